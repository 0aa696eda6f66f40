//! The history's filters read by index (SQLite's `EXPLAIN QUERY PLAN`
//! names no `SCAN` and no sort), and find exactly what a full read finds,
//! events written out of dispatch order and lookup tables filled from an
//! existing table included.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rusqlite::{Connection, params_from_iter};

use super::super::append::{append_one, insert_batch};
use super::super::table::create_or_check;
use super::super::{record, to_sql};
use super::select;
use crate::query::Filter;
use crate::record::{EventRecord, ExpectedVersion, NewEvent};

const T: &str = "events";

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap() + Duration::minutes(minute)
}

/// 60 events, one a minute, except that every 10th is written 25 minutes
/// after its dispatch (late, behind events dispatched after it); every
/// 7th in a stream; three names, chains of three, tags by kind.
fn seeded() -> Connection {
    let mut conn = Connection::open_in_memory().expect("open");
    create_or_check(&conn, "sqlite://:memory:", T).expect("create");
    let mut late = Vec::new();
    for n in 0..60i64 {
        let name = ["OrderPlaced", "PaymentCaptured", "OrderShipped"][(n % 3) as usize];
        let mut event = NewEvent::new(name, serde_json::json!({ "n": n })).with_tags(match n % 4 {
            0 => vec!["order".to_string(), "vip".into()],
            1 | 2 => vec!["order".into()],
            _ => vec![],
        });
        event.correlation_id = format!("chain-{}", n / 3);
        event.dispatched_at = at(n);
        if n % 10 == 5 {
            late.push((n + 25, event));
        } else if n % 7 == 0 {
            append_one(
                &mut conn,
                T,
                &event.in_stream("account-1"),
                ExpectedVersion::Any,
            )
            .expect("append");
        } else {
            insert_batch(&mut conn, T, &[event]).expect("insert");
        }
        while let Some(i) = late.iter().position(|(when, _)| *when == n) {
            let (_, event) = late.remove(i);
            insert_batch(&mut conn, T, &[event]).expect("insert late");
        }
    }
    for (_, event) in late {
        insert_batch(&mut conn, T, &[event]).expect("insert late");
    }
    conn
}

fn all(conn: &Connection) -> Vec<EventRecord> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {} FROM {T} ORDER BY position",
            crate::schema::SELECT
        ))
        .expect("prepare");
    stmt.query_map([], record)
        .expect("read")
        .collect::<rusqlite::Result<_>>()
        .expect("rows")
}

/// What the filter selects, by reading every row.
fn expected(rows: &[EventRecord], f: &Filter) -> Vec<i64> {
    rows.iter()
        .filter(|r| f.name.as_ref().is_none_or(|n| &r.name == n))
        .filter(|r| f.tag.as_ref().is_none_or(|t| r.tags.contains(t)))
        .filter(|r| f.stream.is_none() || r.stream == f.stream)
        .filter(|r| {
            f.correlation
                .as_ref()
                .is_none_or(|c| &r.correlation_id == c)
        })
        .filter(|r| f.since.is_none_or(|s| r.dispatched_at >= s))
        .filter(|r| f.after.is_none_or(|a| r.position > a))
        .filter(|r| f.replays || r.replay_of.is_none())
        .map(|r| r.position)
        .take(f.page_size())
        .collect()
}

fn filters() -> Vec<Filter> {
    let f = Filter::default;
    let mut list = vec![
        f(),
        Filter {
            name: Some("PaymentCaptured".into()),
            ..f()
        },
        Filter {
            tag: Some("vip".into()),
            ..f()
        },
        Filter {
            tag: Some("order".into()),
            name: Some("OrderShipped".into()),
            ..f()
        },
        Filter {
            stream: Some("account-1".into()),
            ..f()
        },
        Filter {
            correlation: Some("chain-4".into()),
            ..f()
        },
        Filter {
            correlation: Some("chain-4".into()),
            replays: true,
            ..f()
        },
    ];
    let mut with_time = Vec::new();
    for base in &list {
        for minute in [-5, 0, 12, 31, 33, 50, 59, 90] {
            with_time.push(Filter {
                since: Some(at(minute) + Duration::seconds(20)),
                ..base.clone()
            });
            with_time.push(Filter {
                since: Some(at(minute)),
                after: Some(20),
                limit: 7,
                ..base.clone()
            });
        }
    }
    list.extend(with_time);
    list
}

fn run(conn: &Connection, f: &Filter) -> Vec<i64> {
    let Some((sql, values)) = select(conn, T, f, to_sql).expect("select") else {
        return Vec::new();
    };
    let mut stmt = conn.prepare(&sql).expect("prepare");
    stmt.query_map(params_from_iter(values), record)
        .expect("query")
        .map(|r| r.expect("row").position)
        .collect()
}

#[test]
fn every_filter_finds_what_a_full_read_finds() {
    let conn = seeded();
    let rows = all(&conn);
    assert_eq!(rows.len(), 60);
    for f in filters() {
        assert_eq!(run(&conn, &f), expected(&rows, &f), "{f:?}");
    }
}

#[test]
fn lookup_tables_created_on_an_existing_table_are_filled_from_it() {
    let conn = seeded();
    let before: Vec<Vec<i64>> = filters().iter().map(|f| run(&conn, f)).collect();
    conn.execute_batch(&format!("DROP TABLE {T}_tags; DROP TABLE {T}_since;"))
        .expect("drop");
    create_or_check(&conn, "sqlite://:memory:", T).expect("create again");
    let after: Vec<Vec<i64>> = filters().iter().map(|f| run(&conn, f)).collect();
    assert_eq!(before, after);
}

#[test]
fn every_filter_reads_by_an_index() {
    let conn = seeded();
    for f in filters() {
        let Some((sql, values)) = select(&conn, T, &f, to_sql).expect("select") else {
            continue;
        };
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let plan: Vec<String> = stmt
            .query_map(params_from_iter(values), |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        let plan = plan.join("; ");
        if f == Filter::default() {
            // No filter: the first page in position order, which the
            // LIMIT ends (no sort, nothing skipped but replays).
            assert_eq!(plan, format!("SCAN {T}"), "{f:?}");
            continue;
        }
        assert!(
            !plan.contains("SCAN") && !plan.contains("TEMP B-TREE"),
            "{f:?} reads without an index: {plan}"
        );
    }
}
