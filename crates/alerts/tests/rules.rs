//! The evaluator: thresholds, sliding windows, grouping, cooldown, prefixes, bounded memory,
//! the built-ins, and no feedback from the crate's own events.

mod common;

use alerts::{Alerts, Evaluator, GroupBy, Settings, builtins};
use common::{event, rule};

const S: i64 = 1000;
const T0: i64 = 1_800_000_000_000;

/// Feeds `events` and returns the rule names of the alerts they fired, in order.
fn feed(evaluator: &mut Evaluator, events: &[audit::AuditEvent]) -> Vec<String> {
    events
        .iter()
        .flat_map(|e| evaluator.observe(e))
        .map(|a| a.rule)
        .collect()
}

#[test]
fn the_tenth_failed_login_of_an_account_fires_once_with_its_facts() {
    let mut ev = Evaluator::new(builtins(), 100);
    let nine: Vec<_> = (0..9)
        .map(|i| {
            event(
                "login.failed",
                T0 + i * S,
                "us_a",
                &format!("198.51.100.{i}"),
            )
        })
        .collect();
    assert_eq!(feed(&mut ev, &nine), Vec::<String>::new());
    let alerts = ev.observe(&event("mfa.failed", T0 + 9 * S, "us_a", "198.51.100.9"));
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let alert = &alerts[0];
    assert_eq!(alert.rule, "failed_logins_per_account");
    assert_eq!(
        (alert.group_by, alert.group.as_str()),
        (GroupBy::Actor, "us_a")
    );
    assert_eq!((alert.count, alert.window_secs), (10, 300));
    assert_eq!((alert.first_at, alert.last_at), (T0, T0 + 9 * S));
    assert_eq!(alert.event_ids.len(), 5);
    assert_eq!(alert.event_ids[4], format!("ev_{:032x}", T0 + 9 * S));
    assert!(
        alert.id.starts_with("al_") && alert.id.len() == 35,
        "{}",
        alert.id
    );
}

#[test]
fn events_older_than_the_window_slide_out() {
    let r = rule("login.failed", GroupBy::Actor, 3, 60, 0);
    let mut ev = Evaluator::new(vec![r], 100);
    // Three events, but never three within 60 s: 0, 40, 80 (the first is gone at 80).
    let spread: Vec<_> = [0, 40, 80]
        .iter()
        .map(|s| event("login.failed", T0 + s * S, "us_a", "192.0.2.1"))
        .collect();
    assert_eq!(feed(&mut ev, &spread), Vec::<String>::new());
    // At 90, 40 and 80 are less than 60 s old: three in the window.
    let fired = feed(
        &mut ev,
        &[event("login.failed", T0 + 90 * S, "us_a", "192.0.2.1")],
    );
    assert_eq!(fired, ["test_actor"]);
}

#[test]
fn grouping_by_actor_and_by_ip_count_different_things() {
    let mut ev = Evaluator::new(
        vec![
            rule("login.failed", GroupBy::Actor, 5, 300, 0),
            rule("login.failed", GroupBy::Ip, 5, 300, 0),
        ],
        100,
    );
    // One IP tries five accounts: the IP rule fires, no account rule does.
    let spray: Vec<_> = (0..5)
        .map(|i| {
            event(
                "login.failed",
                T0 + i * S,
                &format!("us_{i}"),
                "203.0.113.7",
            )
        })
        .collect();
    assert_eq!(feed(&mut ev, &spray), ["test_ip"]);
    // One account tried from five IPs: the account rule fires, no IP rule does.
    let botnet: Vec<_> = (0..5)
        .map(|i| {
            event(
                "login.failed",
                T0 + (10 + i) * S,
                "us_x",
                &format!("10.0.0.{i}"),
            )
        })
        .collect();
    assert_eq!(feed(&mut ev, &botnet), ["test_actor"]);
}

#[test]
fn a_group_stays_quiet_for_its_cooldown_then_fires_again() {
    let mut ev = Evaluator::new(vec![rule("login.locked", GroupBy::Actor, 1, 60, 600)], 100);
    let at = |s: i64, who: &str| event("login.locked", T0 + s * S, who, "192.0.2.1");
    assert_eq!(feed(&mut ev, &[at(0, "us_a")]).len(), 1);
    // Within the cooldown: the same account is quiet, another account is not.
    assert_eq!(feed(&mut ev, &[at(1, "us_a"), at(599, "us_a")]).len(), 0);
    assert_eq!(feed(&mut ev, &[at(2, "us_b")]).len(), 1);
    // Cooldown over.
    assert_eq!(feed(&mut ev, &[at(600, "us_a")]).len(), 1);
}

#[test]
fn a_family_prefix_matches_its_actions_only() {
    let mut ev = Evaluator::new(vec![rule("login.*", GroupBy::None, 1, 60, 0)], 100);
    for (action, fires) in [
        ("login.failed", true),
        ("login.locked", true),
        ("mfa.failed", false),
        ("loginx.failed", false),
    ] {
        let fired = ev.observe(&event(action, T0, "us_a", "192.0.2.1"));
        assert_eq!(fired.len(), usize::from(fires), "{action}");
    }
}

#[test]
fn tracked_groups_are_capped_and_the_least_recent_is_forgotten() {
    let mut ev = Evaluator::new(vec![rule("login.failed", GroupBy::Ip, 3, 300, 0)], 3);
    let from = |ip: &str, s: i64| event("login.failed", T0 + s * S, "us_a", ip);
    // 1,000 distinct IPs: memory stays at the cap.
    for i in 0..1000 {
        ev.observe(&from(&format!("10.1.{}.{}", i / 256, i % 256), 0));
        assert!(ev.tracked_groups() <= 3);
    }
    // "a" kept fresh survives "c" coming and fires on its third event.
    assert!(feed(&mut ev, &[from("a", 1), from("a", 2), from("b", 3)]).is_empty());
    assert_eq!(feed(&mut ev, &[from("c", 4), from("a", 5)]).len(), 1);
    // "b" has two events; three newer groups push it out, and it starts again from zero.
    assert!(
        feed(
            &mut ev,
            &[from("b", 6), from("d", 7), from("e", 8), from("f", 9)]
        )
        .is_empty()
    );
    assert!(feed(&mut ev, &[from("b", 10), from("b", 11)]).is_empty());
    assert_eq!(feed(&mut ev, &[from("b", 12)]).len(), 1);
    assert_eq!(ev.tracked_groups(), 3);
}

#[test]
fn builtins_fire_on_single_operational_events_and_skip_keyless_ones() {
    let mut ev = Evaluator::new(builtins(), 100);
    let mut mirror = event("mirror.degraded", T0, "us_a", "192.0.2.1");
    mirror.resource = Some(audit::Resource {
        kind: "mirror".into(),
        id: Some("b".into()),
    });
    let fired = ev.observe(&mirror);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].group, "mirror:b");
    for (action, rule) in [
        ("login.locked", "account_locked"),
        ("audit.verify_failed", "audit_verify_failed"),
    ] {
        let fired = ev.observe(&event(action, T0, "us_a", "192.0.2.1"));
        assert_eq!(
            fired.iter().map(|a| a.rule.as_str()).collect::<Vec<_>>(),
            [rule]
        );
    }
    // A data-rights deadline 7 days away, a failed deletion, a destination not shredded: each
    // fires once for its resource.
    for (action, rule) in [
        ("data_rights.deadline_near", "data_rights"),
        ("tenant.deletion_failed", "data_rights"),
        ("backup.shred_failed", "backup_failed"),
    ] {
        let mut e = event(action, T0, "us_a", "192.0.2.1");
        e.resource = Some(audit::Resource {
            kind: "tenant".into(),
            id: Some(format!("tn_{action}")),
        });
        let fired = ev.observe(&e);
        assert_eq!(
            fired.iter().map(|a| a.rule.as_str()).collect::<Vec<_>>(),
            [rule],
            "{action}"
        );
    }
    // disk.low is grouped by resource: an event without one counts for nothing.
    assert!(
        ev.observe(&event("disk.low", T0, "us_a", "192.0.2.1"))
            .is_empty()
    );
}

#[test]
fn the_crates_own_events_never_count() {
    let mut ev = Evaluator::new(vec![rule("*", GroupBy::None, 1, 60, 0)], 100);
    for action in ["alert.fired", "alert.failed", "alert.delivered"] {
        assert!(
            ev.observe(&event(action, T0, "us_a", "192.0.2.1"))
                .is_empty(),
            "{action}"
        );
    }
    assert_eq!(
        ev.observe(&event("login.failed", T0, "us_a", "192.0.2.1"))
            .len(),
        1
    );
}

#[tokio::test]
async fn an_alert_fired_event_fed_back_fires_nothing() {
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let settings = Settings::new("node-a", vec![rule("*", GroupBy::None, 1, 60, 0)]);
    let alerts = Alerts::start(settings, tx).expect("start");
    assert_eq!(
        alerts
            .observe(&event("login.failed", T0, "us_a", "192.0.2.1"))
            .len(),
        1
    );
    let events = common::events_until(&mut rx, |seen| !seen.is_empty()).await;
    let fired = &events[0];
    assert_eq!(fired.action, "alert.fired");
    assert_eq!(fired.actor.kind, audit::ActorKind::System);
    assert_eq!(
        fired.resource.as_ref().map(|r| r.kind.as_str()),
        Some("alert")
    );
    assert_eq!(fired.details["rule"], "test_none");
    assert!(alerts.observe(fired).is_empty());
    assert_eq!(alerts.shutdown(std::time::Duration::from_secs(5)).await, 0);
}

#[test]
fn a_configured_rule_converts_to_an_alerts_rule_through_serde() {
    let config: config::Config = toml::from_str(
        "[[alerts.rules]]\nname = \"bursts\"\naction = [\"login.*\", \"mfa.failed\"]\n\
         group_by = \"tenant\"\nthreshold = 3\nwindow_secs = 60\nseverity = \"info\"\n\
         cooldown_secs = 5\n",
    )
    .expect("config");
    let json = serde_json::to_value(&config.alerts.rules[0]).expect("json");
    let rule: alerts::Rule = serde_json::from_value(json).expect("an alerts::Rule");
    assert_eq!((rule.group_by, rule.threshold), (GroupBy::Tenant, 3));
    assert!(rule.matches(&event("mfa.failed", T0, "us_a", "192.0.2.1")));
    assert_eq!(
        alerts::rule_set(vec![rule], true).expect("rule set").len(),
        alerts::builtins().len() + 1
    );
}
