//! `event-broadcast-server [--host H] [--port P]`: the server alone (what
//! `artisan broadcast:serve` runs), configured by `EVENTS_BROADCAST_*`.

use anyhow::{Context, bail};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut host = None;
    let mut port = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--host" => host = Some(args.next().context("--host needs a value")?),
            "--port" => {
                let v = args.next().context("--port needs a value")?;
                port = Some(v.parse().with_context(|| format!("invalid --port `{v}`"))?);
            }
            other => bail!(
                "unknown argument `{other}`; usage: event-broadcast-server [--host H] [--port P]"
            ),
        }
    }
    event_broadcast_server::serve_from_env(host, port).await
}
