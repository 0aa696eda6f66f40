//! Writing jobs on the `redis` connection: where a pushed job goes (its
//! priority's stream, or the delayed set), and putting a claimed job back.

use super::RedisBackend;
use crate::QueueError;
use crate::job::{Job, JobEnvelope, Receipt, now_ms};

impl RedisBackend {
    pub(super) async fn requeue(
        &self,
        receipt: &Receipt,
        envelope: &JobEnvelope,
    ) -> Result<(), QueueError> {
        let json = serde_json::to_string(envelope).map_err(|e| self.json("write a job", e))?;
        let mut conn = self.conn.clone();
        let _: i64 = self
            .requeue_script
            .arg(&self.tag)
            .arg(&receipt.key)
            .arg(&receipt.token)
            .arg(&envelope.queue)
            .arg(envelope.priority)
            .arg(envelope.available_at)
            .arg(now_ms())
            .arg(json)
            .invoke_async(&mut conn)
            .await
            .map_err(self.redis("reschedule a job"))?;
        Ok(())
    }

    /// The pipeline writing `jobs`: each job's own command (see
    /// [`Self::add_to_pipe`]), then, once per batch, the queue names for
    /// the monitoring (SADD) and the delayed count of each queue that got
    /// delayed jobs (HINCRBY).
    pub(super) fn push_pipe(&self, jobs: &[Job], now: i64) -> Result<redis::Pipeline, QueueError> {
        let mut pipe = redis::pipe();
        let mut queues: Vec<(&str, i64)> = Vec::new();
        for job in jobs {
            let delayed = self.add_to_pipe(&mut pipe, job, now)?;
            let queue = job.envelope.queue.as_str();
            match queues.iter_mut().find(|(q, _)| *q == queue) {
                Some((_, n)) => *n += i64::from(delayed),
                None => queues.push((queue, i64::from(delayed))),
            }
        }
        if queues.is_empty() {
            return Ok(pipe);
        }
        pipe.cmd("SADD")
            .arg(self.key("queues"))
            .arg(queues.iter().map(|(q, _)| *q).collect::<Vec<_>>())
            .ignore();
        for (queue, delayed) in queues {
            if delayed > 0 {
                pipe.hincr(self.key("delayed:n"), queue, delayed).ignore();
            }
        }
        Ok(pipe)
    }

    /// A priority-0 job is one XADD: workers always read the priority-0
    /// stream of their queues. Other priorities are recorded (ZADD NX) so
    /// workers find their streams; a delayed job waits in the delayed set
    /// (returns true then).
    fn add_to_pipe(
        &self,
        pipe: &mut redis::Pipeline,
        job: &Job,
        now: i64,
    ) -> Result<bool, QueueError> {
        let e = &job.envelope;
        let json = job.to_json().map_err(|e| self.json("write a job", e))?;
        if e.available_at > now {
            let member = format!("{}\n{}\n{json}", e.queue, e.priority);
            pipe.zadd(self.key("delayed"), member, e.available_at)
                .ignore();
            return Ok(true);
        }
        if e.priority != 0 {
            pipe.cmd("ZADD")
                .arg(self.key(&format!("p:{}", e.queue)))
                .arg("NX")
                .arg(e.priority)
                .arg(e.priority)
                .ignore();
        }
        pipe.cmd("XADD")
            .arg(self.key(&format!("s:{}:{}", e.queue, e.priority)))
            .arg("*")
            .arg("job")
            .arg(json)
            .ignore();
        Ok(false)
    }
}
