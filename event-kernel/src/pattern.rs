//! Wildcard patterns for event names, as Laravel's `Str::is`: `*` matches any
//! run of characters (dots included), everything else matches itself.

/// True when `name` contains a `*`, i.e. is a pattern rather than an event name.
pub(crate) fn is_pattern(name: &str) -> bool {
    name.contains('*')
}

/// Glob match with `*` as the only metacharacter, in O(len(pattern) * len(name)).
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    let p = pattern.as_bytes();
    let n = name.as_bytes();
    let (mut pi, mut ni) = (0, 0);
    // Position after the last `*` seen, and where in `name` it started matching.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi + 1, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((after_star, matched_from)) = star {
            pi = after_star;
            ni = matched_from + 1;
            star = Some((after_star, matched_from + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn star_matches_everything() {
        assert!(matches("*", "OrderCreated"));
        assert!(matches("*", ""));
    }

    #[test]
    fn dotted_and_prefix_patterns() {
        assert!(matches("order.*", "order.created"));
        assert!(matches("order.*", "order.items.added"));
        assert!(!matches("order.*", "orders.created"));
        assert!(!matches("order.*", "order"));
        assert!(matches("Order*", "OrderCreated"));
        assert!(matches("Order*", "Order"));
        assert!(!matches("Order*", "UserOrderCreated"));
        assert!(matches("*Created", "UserCreated"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
        assert!(!matches("order.created", "order.updated"));
        assert!(matches("order.created", "order.created"));
    }
}
