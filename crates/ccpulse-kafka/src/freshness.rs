//! When each assigned topic-partition was last known to be up to date with its broker.
//!
//! Two witnesses: the partition's worker, which notes the wall-clock time whenever one
//! of its queues yields a message or reports the partition's end; and librdkafka's
//! statistics (every second), which say per broker whether it is up and how long ago
//! anything was received from it (`rxidle`), and per partition which broker leads it.
//! A consumer fetches continuously (`fetch.wait.max.ms`), so a leader that is up and
//! answered a moment ago means the partition was fetched from a moment ago, even when
//! it has no new events: a quiet partition is not stale, a partition whose broker
//! cannot be reached is.

use std::collections::HashMap;
use std::sync::Mutex;

use ccpulse_core::time::Millis;
use rdkafka::statistics::Statistics;

/// What the statistics say of one topic-partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetch {
    /// Wall-clock time of the last receive from its leader, while the leader was up.
    pub fetched_at: Option<Millis>,
    /// Its leader is not up (or unknown).
    pub broker_down: bool,
}

/// The statistics' view of every assigned topic-partition.
#[derive(Debug, Default)]
pub struct Fetches {
    by_partition: Mutex<HashMap<(String, i32), Fetch>>,
}

impl Fetches {
    /// Takes a statistics report received at `now_wall`.
    pub fn update(&self, stats: &Statistics, now_wall: Millis) {
        let mut brokers: HashMap<i32, Option<Millis>> = HashMap::new();
        for b in stats.brokers.values() {
            let up = b.state == "UP";
            let at = (up && b.rxidle >= 0).then(|| now_wall - b.rxidle / 1000);
            brokers.insert(b.nodeid, at);
        }
        let mut map = match self.by_partition.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        for (name, topic) in &stats.topics {
            for (&partition, p) in &topic.partitions {
                if partition < 0 || !p.desired {
                    continue;
                }
                let fetched_at = brokers.get(&p.leader).copied().flatten();
                let e = map.entry((name.clone(), partition)).or_insert(Fetch {
                    fetched_at: None,
                    broker_down: false,
                });
                e.broker_down = fetched_at.is_none();
                if fetched_at.is_some() {
                    e.fetched_at = fetched_at.max(e.fetched_at);
                }
            }
        }
    }

    /// The statistics' view of a topic-partition, if any report named it.
    pub fn get(&self, topic: &str, partition: i32) -> Option<Fetch> {
        let map = match self.by_partition.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.get(&(topic.to_owned(), partition)).copied()
    }
}

/// A statistics report of one consumer: one broker in `broker_state`, idle for
/// `rxidle_us`, and partition 0 of `cc.voice`, `desired` or not, `lag` behind.
#[cfg(test)]
pub(crate) fn statistics(broker_state: &str, rxidle_us: i64, desired: bool, lag: i64) -> Statistics {
    let json = r#"{
        "name": "c", "client_id": "c", "type": "consumer", "ts": 0, "time": 0, "age": 0,
        "replyq": 0, "msg_cnt": 0, "msg_size": 0, "msg_max": 0, "msg_size_max": 0,
        "simple_cnt": 0, "metadata_cache_cnt": 0, "tx": 0, "tx_bytes": 0, "rx": 0,
        "rx_bytes": 0, "txmsgs": 0, "txmsg_bytes": 0, "rxmsgs": 0, "rxmsg_bytes": 0,
        "brokers": {"b1": {"name": "b1", "nodeid": 1, "nodename": "b1", "source": "learned",
            "state": "BROKER_STATE", "stateage": 0, "outbuf_cnt": 0, "outbuf_msg_cnt": 0,
            "waitresp_cnt": 0, "waitresp_msg_cnt": 0, "tx": 0, "txbytes": 0, "txerrs": 0,
            "txretries": 0, "txidle": 0, "req_timeouts": 0, "rx": 0, "rxbytes": 0, "rxerrs": 0,
            "rxcorriderrs": 0, "rxpartial": 0, "rxidle": RXIDLE, "zbuf_grow": 0,
            "buf_grow": 0, "wakeups": 0, "connects": 0, "disconnects": 0, "req": {},
            "toppars": {}}},
        "topics": {"cc.voice": {"topic": "cc.voice", "age": 0, "metadata_age": 0,
            "batchsize": {"min":0,"max":0,"avg":0,"sum":0,"stddev":0,"p50":0,"p75":0,"p90":0,"p95":0,"p99":0,"p99_99":0,"outofrange":0,"hdrsize":0,"cnt":0},
            "batchcnt": {"min":0,"max":0,"avg":0,"sum":0,"stddev":0,"p50":0,"p75":0,"p90":0,"p95":0,"p99":0,"p99_99":0,"outofrange":0,"hdrsize":0,"cnt":0},
            "partitions": {"0": {"partition": 0, "broker": 1, "leader": 1, "desired": DESIRED,
                "unknown": false, "msgq_cnt": 0, "msgq_bytes": 0, "xmit_msgq_cnt": 0,
                "xmit_msgq_bytes": 0, "fetchq_cnt": 0, "fetchq_size": 0, "fetch_state": "active",
                "query_offset": 0, "next_offset": 0, "app_offset": 0, "stored_offset": 0,
                "committed_offset": 0, "eof_offset": 0, "lo_offset": 0, "hi_offset": 0,
                "ls_offset": 0, "consumer_lag": LAG, "consumer_lag_stored": LAG, "txmsgs": 0,
                "txbytes": 0, "rxmsgs": 0, "rxbytes": 0, "msgs": 0, "rx_ver_drops": 0,
                "msgs_inflight": 0, "next_ack_seq": 0, "next_err_seq": 0, "acked_msgid": 0}}}}
    }"#
        .replace("BROKER_STATE", broker_state)
        .replace("RXIDLE", &rxidle_us.to_string())
        .replace("DESIRED", &desired.to_string())
        .replace("LAG", &lag.to_string());
    serde_json::from_str(&json).expect("a statistics report")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(broker_state: &str, rxidle_us: i64) -> Statistics {
        statistics(broker_state, rxidle_us, true, 0)
    }

    #[test]
    fn an_up_broker_that_answered_recently_makes_its_partitions_fresh() {
        let f = Fetches::default();
        f.update(&stats("UP", 250_000), 10_000);
        assert_eq!(
            f.get("cc.voice", 0),
            Some(Fetch {
                fetched_at: Some(9_750),
                broker_down: false
            })
        );
        f.update(&stats("CONNECT", 25_000_000), 40_000);
        assert_eq!(
            f.get("cc.voice", 0),
            Some(Fetch {
                fetched_at: Some(9_750),
                broker_down: true
            }),
            "a broker that is down keeps the last time it answered"
        );
        assert_eq!(f.get("cc.chat", 0), None);
    }
}
