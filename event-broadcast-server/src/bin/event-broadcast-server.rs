//! `event-broadcast-server [--host H] [--port P] [--tls-cert C --tls-key K]
//! [--apps-file F]`:
//! the server alone (what
//! `artisan broadcast:serve` runs), configured by `EVENTS_BROADCAST_*`.

use anyhow::{Context, bail};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut serve = event_broadcast_server::ServeArgs::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--host" => serve.host = Some(args.next().context("--host needs a value")?),
            "--port" => {
                let v = args.next().context("--port needs a value")?;
                serve.port = Some(v.parse().with_context(|| format!("invalid --port `{v}`"))?);
            }
            "--tls-cert" => {
                serve.tls_cert = Some(args.next().context("--tls-cert needs a file")?.into());
            }
            "--apps-file" => {
                serve.apps_file = Some(args.next().context("--apps-file needs a file")?.into());
            }
            "--tls-key" => {
                serve.tls_key = Some(args.next().context("--tls-key needs a file")?.into())
            }
            other => bail!(
                "unknown argument `{other}`; usage: event-broadcast-server [--host H] [--port P] \
                 [--tls-cert cert.pem --tls-key key.pem] [--apps-file apps.json|apps.toml]"
            ),
        }
    }
    event_broadcast_server::serve_from_env(serve).await
}
