//! The evaluator: one sliding window per (rule, group key) over event time, an alert when a
//! window reaches its rule's threshold, then quiet for the rule's cooldown.
//!
//! Deterministic: time is the events' own `at` (Unix ms); the evaluator never reads a clock.
//!
//! Memory is bounded. A window keeps at most `threshold` timestamps (enough to know whether
//! the threshold is reached) and the ids of the last [`EVENT_IDS`] events. At most
//! `max_groups` (rule, group) pairs are tracked; a new pair beyond that evicts the pair updated
//! least recently (its window and cooldown are forgotten, so an attacker spraying keys can make
//! a quiet group alert again, never make the evaluator grow).

use std::collections::{BTreeMap, HashMap, VecDeque};

use audit::AuditEvent;
use serde::{Deserialize, Serialize};

use crate::rules::Rule;

/// How many event ids an alert carries (the most recent ones).
pub const EVENT_IDS: usize = 5;

/// One firing of a rule for one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// `al_` and 32 hex digits, unique per firing.
    pub id: String,
    pub rule: String,
    pub severity: crate::rules::Severity,
    /// What the events were grouped by (`actor`, `ip`, …) and the group's key.
    pub group_by: crate::rules::GroupBy,
    pub group: String,
    /// Matching events in the window when the rule fired.
    pub count: u32,
    pub window_secs: u64,
    /// Event time (Unix ms) of the first and last counted events.
    pub first_at: i64,
    pub last_at: i64,
    /// Ids of the last counted events (at most [`EVENT_IDS`]).
    pub event_ids: Vec<String>,
}

#[derive(Debug, Default)]
struct Window {
    times: VecDeque<i64>,
    ids: VecDeque<String>,
    last_fired: Option<i64>,
    /// Position in the recency index.
    tick: u64,
}

/// Sliding windows for a set of rules. Not thread-safe by itself; [`crate::Alerts`] holds it
/// behind a mutex.
#[derive(Debug)]
pub struct Evaluator {
    rules: Vec<Rule>,
    max_groups: usize,
    windows: HashMap<(usize, String), Window>,
    /// tick → (rule, group): least recently updated first.
    recency: BTreeMap<u64, (usize, String)>,
    next_tick: u64,
}

impl Evaluator {
    /// An evaluator for `rules`, tracking at most `max_groups` (rule, group) pairs (at least 1).
    pub fn new(rules: Vec<Rule>, max_groups: usize) -> Evaluator {
        Evaluator {
            rules,
            max_groups: max_groups.max(1),
            windows: HashMap::new(),
            recency: BTreeMap::new(),
            next_tick: 0,
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// (rule, group) pairs tracked now.
    pub fn tracked_groups(&self) -> usize {
        self.windows.len()
    }

    /// Counts `event` for every rule it matches; returns the alerts it fires. Events made by the
    /// alerts themselves (`alert.*`) never count, so an alert can not feed itself.
    pub fn observe(&mut self, event: &AuditEvent) -> Vec<Alert> {
        if crate::is_own_event(event) {
            return Vec::new();
        }
        let mut fired = Vec::new();
        for index in 0..self.rules.len() {
            let rule = &self.rules[index];
            if !rule.matches(event) {
                continue;
            }
            let Some(key) = rule.group_by.key(event) else {
                continue;
            };
            let key = audit::event::cap(&key, audit::event::MAX_TEXT);
            if let Some(alert) = self.count(index, key, event) {
                fired.push(alert);
            }
        }
        fired
    }

    fn count(&mut self, index: usize, key: String, event: &AuditEvent) -> Option<Alert> {
        let tick = self.next_tick;
        self.next_tick += 1;
        let slot = (index, key);
        if let Some(window) = self.windows.get_mut(&slot) {
            self.recency.remove(&window.tick);
            window.tick = tick;
        } else {
            self.evict_to(self.max_groups - 1);
            self.windows.insert(
                slot.clone(),
                Window {
                    tick,
                    ..Window::default()
                },
            );
        }
        self.recency.insert(tick, slot.clone());
        let rule = &self.rules[index];
        let window = self.windows.get_mut(&slot)?;
        window.push(rule, event);
        let at = event.at;
        let cooled = window
            .last_fired
            .is_none_or(|last| at.saturating_sub(last) >= millis(rule.cooldown_secs));
        if window.times.len() < rule.threshold as usize || !cooled {
            return None;
        }
        let alert = window.alert(rule, slot.1);
        window.last_fired = Some(at);
        window.times.clear();
        window.ids.clear();
        Some(alert)
    }

    fn evict_to(&mut self, keep: usize) {
        while self.windows.len() > keep {
            let Some((_, slot)) = self.recency.pop_first() else {
                return;
            };
            self.windows.remove(&slot);
        }
    }
}

fn millis(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

impl Window {
    fn push(&mut self, rule: &Rule, event: &AuditEvent) {
        let horizon = event.at.saturating_sub(millis(rule.window_secs));
        while self.times.front().is_some_and(|&t| t <= horizon) {
            self.times.pop_front();
        }
        self.times.push_back(event.at);
        while self.times.len() > rule.threshold as usize {
            self.times.pop_front();
        }
        self.ids.push_back(event.id.clone());
        while self.ids.len() > EVENT_IDS.min(self.times.len()) {
            self.ids.pop_front();
        }
    }

    fn alert(&self, rule: &Rule, group: String) -> Alert {
        let first_at = self.times.iter().copied().min().unwrap_or_default();
        let last_at = self.times.iter().copied().max().unwrap_or_default();
        Alert {
            id: types::AlertId::random().to_string(),
            rule: rule.name.clone(),
            severity: rule.severity,
            group_by: rule.group_by,
            group,
            count: u32::try_from(self.times.len()).unwrap_or(u32::MAX),
            window_secs: rule.window_secs,
            first_at,
            last_at,
            event_ids: self.ids.iter().cloned().collect(),
        }
    }
}
