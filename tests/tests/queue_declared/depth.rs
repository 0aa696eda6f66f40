//! `Queue::sizes()`: the jobs waiting on each queue, due or delayed; the
//! ones a worker has taken are not waiting (`size()` still counts them).

use super::*;

pub struct DepthNow(pub Probe);

#[listener(event = DeclaredEvent, queued, queue = "depth-now")]
impl DepthNow {
    async fn handle(&self, event: &DeclaredEvent) -> anyhow::Result<()> {
        self.0.run("depth-now", event).await
    }
}

pub struct DepthLater(pub Probe);

#[listener(event = DeclaredEvent, queued, queue = "depth-later", delay = 60)]
impl DepthLater {
    async fn handle(&self, event: &DeclaredEvent) -> anyhow::Result<()> {
        self.0.run("depth-later", event).await
    }
}

pub async fn sizes_count_each_queue(queue: Queue) {
    let probe = Probe::new();
    let dispatcher = installed(&queue).await;
    dispatcher
        .listen::<DeclaredEvent>(Arc::new(DepthNow(probe.clone())))
        .await;
    dispatcher
        .listen::<DeclaredEvent>(Arc::new(DepthLater(probe.clone())))
        .await;
    assert_eq!(queue.sizes().await.expect("sizes"), vec![]);
    for n in 0..3 {
        dispatcher.dispatch(event(n)).await.expect("dispatch");
    }
    let sizes =
        |a: usize, b: usize| vec![("depth-later".to_string(), b), ("depth-now".to_string(), a)];
    assert_eq!(queue.sizes().await.expect("sizes"), sizes(3, 3));
    assert_eq!(queue.size().await.expect("size"), 6);

    // A worker takes one: it runs, it no longer waits.
    let backend = queue.backend().expect("backend");
    let taken = backend
        .fetch(&["depth-now".to_string()], 1, ms(60_000), "depth")
        .await
        .expect("fetch");
    assert_eq!(taken.len(), 1);
    assert_eq!(queue.sizes().await.expect("sizes"), sizes(2, 3));
    assert_eq!(queue.size().await.expect("size"), 6);
    backend.release(taken).await.expect("release");
    assert_eq!(queue.sizes().await.expect("sizes"), sizes(3, 3));
}
