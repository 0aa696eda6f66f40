//! The standalone dashboard (`bind`, then `run_until`) served on a free
//! port for a test, and raw HTTP/1.1 requests to it over TCP.

use std::net::SocketAddr;

use event_dashboard::{ServeOptions, bind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A served standalone dashboard: `stop().await` ends it and checks it
/// served without error.
pub struct Served {
    /// The URL it prints (with `?token=`).
    pub url: String,
    pub addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<(), event_dashboard::DashboardError>>,
}

/// Binds the dashboard `options` name (on a free port) and serves it.
pub async fn serve(options: ServeOptions) -> Served {
    let standalone = bind(ServeOptions { port: 0, ..options })
        .await
        .expect("bind the dashboard");
    let (url, addr) = (standalone.url().to_string(), standalone.addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(standalone.run_until(async move {
        let _ = stopped.await;
    }));
    Served {
        url,
        addr,
        stop,
        server,
    }
}

impl Served {
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.server.await.unwrap().expect("the dashboard served");
    }
}

/// One HTTP/1.1 request over TCP; the whole answer as text.
pub async fn http(addr: SocketAddr, request: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    answer
}
