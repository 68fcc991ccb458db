//! `/metrics`: the service's own metrics from the registry, plus every KPI of the
//! current snapshot rendered at scrape time (see `docs/metrics.md`).
//!
//! Rendering from the snapshot instead of keeping gauges means a group that went away
//! has no series any more, with nothing to remove, and a scrape always sees one
//! consistent snapshot.

use ccpulse_core::snapshot::{GroupRow, Snapshot};
use ccpulse_core::time::Millis;
use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::TextEncoder;

use crate::state::Published;

/// Label pairs sorted by name; empty values are left out (Prometheus treats an empty
/// label as absent).
fn label_pairs(labels: &[(&str, &str)]) -> Vec<LabelPair> {
    let mut sorted: Vec<&(&str, &str)> = labels.iter().filter(|(_, v)| !v.is_empty()).collect();
    sorted.sort_by_key(|(k, _)| *k);
    sorted
        .into_iter()
        .map(|(k, v)| {
            let mut p = LabelPair::default();
            p.set_name((*k).to_owned());
            p.set_value((*v).to_owned());
            p
        })
        .collect()
}

/// A metric family being built.
struct Family {
    name: String,
    help: &'static str,
    kind: MetricType,
    samples: Vec<Metric>,
}

impl Family {
    fn gauge(name: impl Into<String>, help: &'static str) -> Self {
        Family {
            name: name.into(),
            help,
            kind: MetricType::GAUGE,
            samples: Vec::new(),
        }
    }

    fn summary(name: impl Into<String>, help: &'static str) -> Self {
        Family {
            name: name.into(),
            help,
            kind: MetricType::SUMMARY,
            samples: Vec::new(),
        }
    }

    fn push_summary(
        &mut self,
        labels: &[(&str, &str)],
        count: i64,
        sum_seconds: f64,
        quantiles: &[(f64, Option<f64>)],
    ) {
        if count <= 0 {
            return;
        }
        let mut summary = prometheus::proto::Summary::default();
        summary.set_sample_count(count as u64);
        summary.set_sample_sum(sum_seconds);
        summary.set_quantile(
            quantiles
                .iter()
                .filter_map(|&(q, v)| {
                    let mut quantile = prometheus::proto::Quantile::default();
                    quantile.set_quantile(q);
                    quantile.set_value(v?);
                    Some(quantile)
                })
                .collect(),
        );
        let mut m = Metric::default();
        m.set_label(label_pairs(labels));
        m.set_summary(summary);
        self.samples.push(m);
    }

    fn counter(name: impl Into<String>, help: &'static str) -> Self {
        Family {
            name: name.into(),
            help,
            kind: MetricType::COUNTER,
            samples: Vec::new(),
        }
    }

    fn push(&mut self, labels: &[(&str, &str)], value: f64) {
        let mut m = Metric::default();
        m.set_label(label_pairs(labels));
        match self.kind {
            MetricType::COUNTER => {
                let mut c = prometheus::proto::Counter::default();
                c.set_value(value);
                m.set_counter(c);
            }
            _ => {
                let mut g = Gauge::default();
                g.set_value(value);
                m.set_gauge(g);
            }
        }
        self.samples.push(m);
    }

    fn push_opt(&mut self, labels: &[(&str, &str)], value: Option<f64>) {
        if let Some(v) = value {
            self.push(labels, v);
        }
    }

    fn finish(self) -> Option<MetricFamily> {
        if self.samples.is_empty() {
            return None;
        }
        let mut f = MetricFamily::default();
        f.set_name(self.name);
        f.set_help(self.help.to_owned());
        f.set_field_type(self.kind);
        f.set_metric(self.samples);
        Some(f)
    }
}

type RowMetric = (&'static str, &'static str, fn(&GroupRow) -> Option<f64>);

const ROW_METRICS: &[RowMetric] = &[
    ("ccpulse_contacts_offered", "Legs offered in the window.", |g| {
        Some(g.offered as f64)
    }),
    ("ccpulse_contacts_answered", "Legs answered in the window.", |g| {
        Some(g.answered as f64)
    }),
    ("ccpulse_contacts_abandoned", "Legs abandoned in the window.", |g| {
        Some(g.abandoned as f64)
    }),
    (
        "ccpulse_contacts_flowed_out",
        "Legs that left the queue without an agent and not abandoned, in the window.",
        |g| Some(g.flowed_out as f64),
    ),
    (
        "ccpulse_contacts_short_abandoned",
        "Abandoned with a wait under the short-abandon threshold.",
        |g| Some(g.short_abandoned as f64),
    ),
    (
        "ccpulse_contacts_transferred_out",
        "Legs that left the queue by transfer.",
        |g| Some(g.transferred_out as f64),
    ),
    (
        "ccpulse_contacts_answered_within",
        "Legs that met their SLA policy.",
        |g| Some(g.answered_within as f64),
    ),
    (
        "ccpulse_contacts_handled",
        "Legs handled (wrapped up, or transferred after answer).",
        |g| Some(g.handled as f64),
    ),
    (
        "ccpulse_service_level_ratio",
        "Service level, each contact judged by its own policy.",
        |g| g.service_level,
    ),
    ("ccpulse_sla_numerator", "Numerator of the service level.", |g| {
        Some(g.sla.iter().map(|p| p.met).sum::<u64>() as f64)
    }),
    ("ccpulse_sla_denominator", "Denominator of the service level.", |g| {
        Some(g.sla.iter().map(|p| p.denominator).sum::<u64>() as f64)
    }),
    ("ccpulse_answer_rate_ratio", "answered / (answered + abandoned).", |g| {
        g.answer_rate
    }),
    (
        "ccpulse_abandon_rate_ratio",
        "abandoned / (answered + abandoned).",
        |g| g.abandon_rate,
    ),
    ("ccpulse_asa_seconds", "Average speed of answer.", |g| g.asa_seconds),
    ("ccpulse_aht_seconds", "Average handle time.", |g| g.aht_seconds),
    ("ccpulse_talk_seconds", "Mean talk time of handled legs.", |g| {
        g.talk_seconds
    }),
    ("ccpulse_hold_seconds", "Mean hold time of handled legs.", |g| {
        g.hold_seconds
    }),
    ("ccpulse_acw_seconds", "Mean after-contact work of handled legs.", |g| {
        g.acw_seconds
    }),
    (
        "ccpulse_fcr_contacts",
        "Contacts judged for first-contact resolution.",
        |g| Some(g.fcr_contacts as f64),
    ),
    ("ccpulse_repeat_contacts", "Judged contacts that are repeats.", |g| {
        Some(g.repeat_contacts as f64)
    }),
    (
        "ccpulse_fcr_ratio",
        "First-contact resolution: 1 - repeats / judged.",
        |g| g.fcr,
    ),
    ("ccpulse_csat_responses", "CSAT answers.", |g| {
        Some(g.csat_responses as f64)
    }),
    ("ccpulse_csat_ratio", "CSAT: satisfied / answers.", |g| g.csat),
    ("ccpulse_nps_responses", "NPS answers.", |g| {
        Some(g.nps_responses as f64)
    }),
    ("ccpulse_nps_score", "Net promoter score, -100..100.", |g| g.nps),
];

/// The families of one scope of groups: the (queue, channel) groups under `ccpulse_…`,
/// the channel groups and `all` under `ccpulse_channel_…`, so that a `sum` over a metric
/// adds each contact once.
struct GroupFamilies {
    rows: Vec<Family>,
    wait: Family,
    handle: Family,
    pol_sl: Family,
    pol_met: Family,
    pol_den: Family,
    pol_target: Family,
    pol_threshold: Family,
    breached: Family,
    waiting: Family,
    oldest: Family,
    at_risk: Family,
    required: Family,
    gap: Family,
    staffed: Family,
    sent: Family,
    sent_answered: Family,
    response_rate: Family,
    csat_timing: Family,
    csat_timing_ratio: Family,
    nps_timing: Family,
    nps_timing_score: Family,
    survey_delay: Family,
}

impl GroupFamilies {
    /// The families named with `prefix` (`ccpulse_` or `ccpulse_channel_`).
    fn new(prefix: &str) -> Self {
        let n = |name: &str| format!("{prefix}{}", &name["ccpulse_".len()..]);
        GroupFamilies {
            rows: ROW_METRICS
                .iter()
                .map(|(name, h, _)| Family::gauge(n(name), h))
                .collect(),
            wait: Family::summary(n("ccpulse_wait_seconds"), "Waits of answered legs with a known wait."),
            handle: Family::summary(n("ccpulse_handle_seconds"), "Handle times of handled legs."),
            pol_sl: Family::gauge(
                n("ccpulse_sla_policy_service_level_ratio"),
                "Service level of the contacts judged by the policy.",
            ),
            pol_met: Family::gauge(
                n("ccpulse_sla_policy_met"),
                "Numerator of the policy's service level (contacts that met it).",
            ),
            pol_den: Family::gauge(
                n("ccpulse_sla_policy_denominator"),
                "Denominator of the policy's service level.",
            ),
            pol_target: Family::gauge(n("ccpulse_sla_target_ratio"), "The policy's target."),
            pol_threshold: Family::gauge(n("ccpulse_sla_threshold_seconds"), "The policy's threshold T."),
            breached: Family::gauge(
                n("ccpulse_sla_breached"),
                "1 while the policy is breached for the group (judged on the whole view), else 0.",
            ),
            waiting: Family::gauge(n("ccpulse_contacts_waiting"), "Contacts waiting now."),
            oldest: Family::gauge(
                n("ccpulse_oldest_wait_seconds"),
                "Longest current wait; 0 when none waits.",
            ),
            at_risk: Family::gauge(
                n("ccpulse_contacts_at_risk"),
                "Waiting contacts past their SLA threshold.",
            ),
            required: Family::gauge(
                n("ccpulse_agents_required"),
                "Agents Erlang C asks for the window's load at the policy's target and threshold (judged on the whole view).",
            ),
            gap: Family::gauge(
                n("ccpulse_staffing_gap"),
                "Agents staffed now minus agents required for the window's load (judged on the whole view).",
            ),
            staffed: Family::gauge(
                n("ccpulse_agents_staffed"),
                "Agents serving the queue now that can take a contact (available, busy, acw), of the whole view.",
            ),
            sent: Family::gauge(
                n("ccpulse_surveys_sent"),
                "Surveys sent (survey.sent, once per contact and kind) in the window.",
            ),
            sent_answered: Family::gauge(
                n("ccpulse_surveys_sent_answered"),
                "Answers to a sent survey (its first answer) in the window.",
            ),
            response_rate: Family::gauge(
                n("ccpulse_survey_response_rate_ratio"),
                "Answers to sent surveys / surveys sent, in the window.",
            ),
            csat_timing: Family::gauge(
                n("ccpulse_csat_timing_responses"),
                "CSAT answers by delay from the contact's end: immediate or later.",
            ),
            csat_timing_ratio: Family::gauge(n("ccpulse_csat_timing_ratio"), "CSAT of immediate or later answers."),
            nps_timing: Family::gauge(
                n("ccpulse_nps_timing_responses"),
                "NPS answers by delay from the contact's end: immediate or later.",
            ),
            nps_timing_score: Family::gauge(n("ccpulse_nps_timing_score"), "NPS of immediate or later answers."),
            survey_delay: Family::summary(
                n("ccpulse_survey_delay_seconds"),
                "Delays of survey answers from their contact's end.",
            ),
        }
    }

    /// A group's windowed figures; `labels` are its group labels and the window.
    fn row(&mut self, labels: &[(&str, &str)], g: &GroupRow) {
        for (fam, (_, _, get)) in self.rows.iter_mut().zip(ROW_METRICS) {
            fam.push_opt(labels, get(g));
        }
        let waits = [
            (0.5, g.wait_p50_seconds),
            (0.9, g.wait_p90_seconds),
            (0.99, g.wait_p99_seconds),
        ];
        self.wait
            .push_summary(labels, g.wait_count, g.wait_sum_ms as f64 / 1000.0, &waits);
        let handles = [(0.5, g.handle_p50_seconds), (0.9, g.handle_p90_seconds)];
        self.handle
            .push_summary(labels, g.handled, g.handle_sum_ms as f64 / 1000.0, &handles);
        self.surveys(labels, g);
        self.required.push_opt(labels, g.agents_required.map(f64::from));
        self.gap.push_opt(labels, g.staffing_gap.map(|v| v as f64));
        for p in &g.sla {
            let mut l: Vec<(&str, &str)> = labels.to_vec();
            l.push(("policy", p.policy.as_str()));
            self.pol_sl.push_opt(&l, p.service_level);
            self.pol_met.push(&l, p.met as f64);
            self.pol_den.push(&l, p.denominator as f64);
            self.pol_target.push(&l, p.target);
            self.pol_threshold.push(&l, p.threshold_seconds);
            self.breached.push(&l, if p.breached { 1.0 } else { 0.0 });
        }
    }

    /// A group's survey figures: sent surveys and response rates by kind, answers by
    /// how soon they came, and their delays.
    fn surveys(&mut self, labels: &[(&str, &str)], g: &GroupRow) {
        let delays = [(0.5, g.survey_delay_p50_seconds), (0.9, g.survey_delay_p90_seconds)];
        let delay_sum = g.survey_delay_sum_ms as f64 / 1000.0;
        self.survey_delay
            .push_summary(labels, g.survey_delay_count, delay_sum, &delays);
        let v = &g.surveys;
        let with = |name: &'static str, value: &'static str| {
            let mut l: Vec<(&str, &str)> = labels.to_vec();
            l.push((name, value));
            l
        };
        for (kind, n, answered, rate) in [
            ("csat", v.csat_sent, v.csat_sent_answered, v.csat_response_rate),
            ("nps", v.nps_sent, v.nps_sent_answered, v.nps_response_rate),
        ] {
            let l = with("kind", kind);
            if n > 0 || answered > 0 {
                self.sent.push(&l, n as f64);
                self.sent_answered.push(&l, answered as f64);
            }
            self.response_rate.push_opt(&l, rate);
        }
        for (timing, cn, c, nn, n) in [
            (
                "immediate",
                v.csat_immediate_responses,
                v.csat_immediate,
                v.nps_immediate_responses,
                v.nps_immediate,
            ),
            (
                "later",
                v.csat_later_responses,
                v.csat_later,
                v.nps_later_responses,
                v.nps_later,
            ),
        ] {
            let l = with("timing", timing);
            self.csat_timing.push(&l, cn as f64);
            self.csat_timing_ratio.push_opt(&l, c);
            self.nps_timing.push(&l, nn as f64);
            self.nps_timing_score.push_opt(&l, n);
        }
    }

    /// A group's live figures (no window).
    fn live(&mut self, labels: &[(&str, &str)], g: &GroupRow) {
        self.waiting.push(labels, g.waiting as f64);
        self.oldest.push(labels, g.oldest_wait_seconds);
        self.at_risk.push(labels, g.at_risk as f64);
        self.staffed.push_opt(labels, g.agents_staffed.map(|v| v as f64));
    }

    fn into_families(self) -> impl Iterator<Item = Family> {
        self.rows.into_iter().chain([
            self.wait,
            self.handle,
            self.pol_sl,
            self.pol_met,
            self.pol_den,
            self.pol_target,
            self.pol_threshold,
            self.breached,
            self.waiting,
            self.oldest,
            self.at_risk,
            self.required,
            self.gap,
            self.staffed,
            self.sent,
            self.sent_answered,
            self.response_rate,
            self.csat_timing,
            self.csat_timing_ratio,
            self.nps_timing,
            self.nps_timing_score,
            self.survey_delay,
        ])
    }
}

fn kpi_families(snap: &Snapshot, published: &Published, now_wall: Millis) -> Vec<MetricFamily> {
    let mut queues = GroupFamilies::new("ccpulse_");
    let mut channels = GroupFamilies::new("ccpulse_channel_");
    for w in &snap.windows {
        for g in &w.queues {
            let queue = g.queue.as_deref().unwrap_or("");
            let labels = [
                ("queue", queue),
                ("channel", g.channel.as_str()),
                ("window", w.window.as_str()),
            ];
            queues.row(&labels, g);
        }
        for g in &w.channels {
            let labels = [("channel", g.channel.as_str()), ("window", w.window.as_str())];
            channels.row(&labels, g);
        }
    }
    // Live figures are the same in every window; the last window (`today`) lists every
    // group with traffic today or contacts waiting now.
    let mut queue_open = Family::gauge(
        "ccpulse_queue_open",
        "1 while the queue is open by the business hours of its SLA policy (always without a calendar), else 0.",
    );
    // Every queue of every window, so that the alert rules' gate holds for a window
    // that reaches back past midnight too.
    let mut seen = std::collections::BTreeSet::new();
    for g in snap.windows.iter().flat_map(|w| &w.queues) {
        let queue = g.queue.as_deref().unwrap_or("");
        if seen.insert((queue, g.channel.as_str())) {
            queue_open.push(
                &[("queue", queue), ("channel", g.channel.as_str())],
                if g.open { 1.0 } else { 0.0 },
            );
        }
    }
    if let Some(w) = snap.windows.last() {
        for g in &w.queues {
            let l = [
                ("queue", g.queue.as_deref().unwrap_or("")),
                ("channel", g.channel.as_str()),
            ];
            queues.live(&l, g);
        }
        for g in &w.channels {
            channels.live(&[("channel", g.channel.as_str())], g);
        }
    }

    let mut a_handled = Family::gauge("ccpulse_agent_handled", "Contacts the agent handled in the window.");
    let mut a_aht = Family::gauge("ccpulse_agent_aht_seconds", "The agent's average handle time.");
    let mut a_vs = Family::gauge(
        "ccpulse_agent_aht_vs_team_ratio",
        "Agent AHT / AHT of the rest of the team.",
    );
    let mut a_out = Family::gauge("ccpulse_agent_outlier", "1 when the agent is an AHT outlier.");
    let mut a_occ = Family::gauge(
        "ccpulse_agent_occupancy_ratio",
        "(busy + acw) / (available + busy + acw) time.",
    );
    let mut a_judged = Family::gauge(
        "ccpulse_agent_sl_judged",
        "Answered contacts judged for the agent's service level in the window.",
    );
    let mut a_met = Family::gauge(
        "ccpulse_agent_sl_met",
        "Of the agent's judged contacts, those that met their SLA policy.",
    );
    let mut a_sl = Family::gauge(
        "ccpulse_agent_service_level_ratio",
        "The agent's service level: met / judged.",
    );
    let mut a_sl_vs = Family::gauge(
        "ccpulse_agent_sl_vs_team_ratio",
        "Agent service level minus the pooled service level of the rest of the team, in ratio points.",
    );
    let mut a_sl_out = Family::gauge(
        "ccpulse_agent_sl_outlier",
        "1 when the agent's service level is an outlier below the team.",
    );
    let mut a_sent = Family::gauge(
        "ccpulse_agent_surveys_sent",
        "Surveys sent about the agent's contacts in the window.",
    );
    let mut a_sent_answered = Family::gauge(
        "ccpulse_agent_surveys_sent_answered",
        "Answers to the agent's sent surveys in the window.",
    );
    let mut a_rate = Family::gauge(
        "ccpulse_agent_survey_response_rate_ratio",
        "Answers to the agent's sent surveys / surveys sent, in the window.",
    );
    for w in &snap.windows {
        for a in &w.agents {
            let l = [
                ("agent", &*a.agent),
                ("team", a.team.as_deref().unwrap_or("")),
                ("window", w.window.as_str()),
            ];
            a_handled.push(&l, a.handled as f64);
            a_aht.push_opt(&l, a.aht_seconds);
            a_vs.push_opt(&l, a.aht_vs_team);
            a_out.push(&l, if a.outlier { 1.0 } else { 0.0 });
            a_occ.push_opt(&l, a.occupancy);
            a_judged.push(&l, a.sl_judged as f64);
            a_met.push(&l, a.sl_met as f64);
            a_sl.push_opt(&l, a.service_level);
            a_sl_vs.push_opt(&l, a.sl_vs_team);
            a_sl_out.push(&l, if a.sl_outlier { 1.0 } else { 0.0 });
            for (kind, n, answered, rate) in [
                ("csat", a.csat_sent, a.csat_sent_answered, a.csat_response_rate),
                ("nps", a.nps_sent, a.nps_sent_answered, a.nps_response_rate),
            ] {
                let l = [l[0], l[1], l[2], ("kind", kind)];
                if n > 0 || answered > 0 {
                    a_sent.push(&l, n as f64);
                    a_sent_answered.push(&l, answered as f64);
                }
                a_rate.push_opt(&l, rate);
            }
        }
    }
    let mut by_team = Family::gauge("ccpulse_agents", "Agents per team by live state.");
    let mut by_queue = Family::gauge("ccpulse_queue_agents", "Agents serving a queue by live state.");
    for (fam, label, list) in [
        (&mut by_team, "team", &snap.agent_states.teams),
        (&mut by_queue, "queue", &snap.agent_states.queues),
    ] {
        for c in list {
            for (state, n) in [
                ("available", c.available),
                ("busy", c.busy),
                ("acw", c.acw),
                ("away", c.away),
            ] {
                fam.push(&[(label, &*c.name), ("state", state)], n as f64);
            }
        }
    }

    // The exported partitions' own, like every figure here: summed over instances,
    // they are the cluster's (the whole view's would count each contact once per instance).
    let stats = &snap.stats;
    let mut open = Family::gauge("ccpulse_contacts_open", "Contacts held in memory.");
    open.push(&[], stats.open_contacts as f64);
    let mut evicted = Family::counter(
        "ccpulse_contacts_evicted_total",
        "Contacts evicted: unfinished after their timeout (reason=timeout), or the soonest due past contacts.max_open (reason=cap).",
    );
    evicted.push(&[("reason", "timeout")], stats.evicted_open as f64);
    evicted.push(&[("reason", "cap")], stats.evicted_cap as f64);
    let mut age = Family::gauge(
        "ccpulse_snapshot_age_seconds",
        "Wall-clock age of the published snapshot.",
    );
    age.push(&[], (now_wall - published.published_at).max(0) as f64 / 1000.0);
    let mut lag = Family::gauge(
        "ccpulse_snapshot_event_lag_seconds",
        "Wall clock minus the newest event time.",
    );
    lag.push_opt(&[], stats.watermark.map(|w| (now_wall - w) as f64 / 1000.0));
    let mut overflow = Family::gauge(
        "ccpulse_label_overflow",
        "Label values folded into _other by the cardinality cap.",
    );
    overflow.push(&[("label", "queue")], published.folded.0 as f64);
    overflow.push(&[("label", "agent")], published.folded.1 as f64);

    queues
        .into_families()
        .chain(channels.into_families())
        .chain([
            a_handled,
            a_aht,
            a_vs,
            a_out,
            a_occ,
            a_judged,
            a_met,
            a_sl,
            a_sl_vs,
            a_sl_out,
            a_sent,
            a_sent_answered,
            a_rate,
            by_team,
            by_queue,
            queue_open,
            open,
            evicted,
            age,
            lag,
            overflow,
        ])
        .filter_map(Family::finish)
        .collect()
}

/// `ccpulse_ready` and the coverage of the published view: what `/readyz` says, as
/// metrics.
fn coverage_families(published: Option<&Published>, now_wall: Millis, max_age: Millis) -> Vec<MetricFamily> {
    let mut ready = Family::gauge(
        "ccpulse_ready",
        "1 while /readyz answers 200: the view covers every partition, none stale or replaying.",
    );
    ready.push(
        &[],
        match published {
            Some(p) if p.waiting_for(now_wall, max_age).is_empty() => 1.0,
            _ => 0.0,
        },
    );
    let mut families = vec![ready];
    if let Some(p) = published {
        let c = &p.snapshot.coverage;
        let mut partitions = Family::gauge("ccpulse_coverage_partitions", "Partition count of the event topics.");
        partitions.push(&[], f64::from(c.partitions));
        let mut covered = Family::gauge(
            "ccpulse_coverage_covered_partitions",
            "Partitions whose figures the published view includes (fresh or stale).",
        );
        covered.push(&[], f64::from(c.covered));
        let mut stale = Family::gauge(
            "ccpulse_coverage_stale_partitions",
            "Covered partitions not known up to date with the broker for longer than the staleness threshold (their last figures are shown).",
        );
        stale.push(&[], c.stale.len() as f64);
        let mut age = Family::gauge(
            "ccpulse_data_age_seconds",
            "How long ago the least recent covered partition was last known up to date with the broker.",
        );
        age.push_opt(&[], c.data_age_seconds);
        families.extend([partitions, covered, stale, age]);
    }
    families.into_iter().filter_map(Family::finish).collect()
}

/// Registers `ccpulse_build_info` and the standard `process_*` metrics (CPU, memory,
/// file descriptors, start time) in `registry`.
pub fn register_process_metrics(registry: &prometheus::Registry) -> prometheus::Result<()> {
    let build = prometheus::IntGaugeVec::new(
        prometheus::Opts::new(
            "ccpulse_build_info",
            "1, labelled with the version of the ccpulse serving this /metrics.",
        ),
        &["version"],
    )?;
    build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    registry.register(Box::new(build))?;
    registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
}

/// The text exposition of the registry and of the current snapshot's KPIs; a snapshot
/// older than `max_age` counts as not ready.
pub fn render_metrics(
    registry: &prometheus::Registry,
    published: Option<&Published>,
    max_age: Millis,
) -> prometheus::Result<String> {
    let mut families = registry.gather();
    let now = jiff::Timestamp::now().as_millisecond();
    families.extend(coverage_families(published, now, max_age));
    if let Some(p) = published {
        families.extend(kpi_families(p.metrics(), p, now));
    }
    TextEncoder::new().encode_to_string(&families)
}
