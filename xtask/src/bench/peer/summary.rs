//! Turning runs into figures: run_peer.py's percentiles and latency summary
//! (so both sides' latencies are summarised alike), and the markdown table
//! of medians per scenario and side, with the agentd / reference ratios.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// Nearest-rank percentile, as run_peer.py's `pct`.
fn pct(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    let k = ((p / 100.0 * (s.len() - 1) as f64).round() as usize).min(s.len() - 1);
    Some(s[k])
}

pub fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

/// run_peer.py's `lat_summary` of the mock's latencies (seconds → ms).
pub fn lat_summary(latencies: &Value) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(m) = latencies.as_object() {
        for (name, v) in m {
            let xs: Vec<f64> = v
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            let ms = |p| pct(&xs, p).map(|x| round(x * 1000.0, 3));
            out.insert(
                name.clone(),
                json!({"n": xs.len(), "p50_ms": ms(50.0), "p99_ms": ms(99.0)}),
            );
        }
    }
    Value::Object(out)
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.retain(|x| x.is_finite());
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

fn fmt(x: Option<f64>, digits: usize) -> String {
    x.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "–".into())
}

/// Median of a field over runs.
fn med(runs: &[&Value], f: impl Fn(&Value) -> Option<f64>) -> Option<f64> {
    median(runs.iter().filter_map(|r| f(r)).collect())
}

/// The markdown table of medians, per scenario: agentd, reference, ratio.
pub fn table(results: &[Value], scenarios: &[String]) -> String {
    let mut s = String::from(
        "| scenario | side | ok | wall s | server ev/s | client ev/s | client CPU s | peak RSS MiB (before) | mock CPU s | latency p50 / p99 ms |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for name in scenarios {
        let mut medians = BTreeMap::new();
        for side in ["agentd", "reference"] {
            let runs: Vec<&Value> = results
                .iter()
                .filter(|r| r["scenario"] == name.as_str() && r["side"] == side)
                .collect();
            if runs.is_empty() {
                continue;
            }
            let ok = runs.iter().filter(|r| r["ok"] == true).count();
            let wall = med(&runs, |r| r["wall_s"].as_f64());
            let cpu = med(&runs, |r| r["client_cpu_s"].as_f64());
            let peak = med(&runs, |r| r["client_peak_rss_kb"].as_f64());
            let before = med(&runs, |r| r["client_rss_before_kb"].as_f64());
            let mut lat_names: Vec<String> = runs
                .iter()
                .filter_map(|r| r["latency"].as_object())
                .flat_map(|m| m.keys().cloned())
                .collect();
            lat_names.sort();
            lat_names.dedup();
            let lat: Vec<String> = lat_names
                .iter()
                .map(|l| {
                    let p50 = med(&runs, |r| r["latency"][l]["p50_ms"].as_f64());
                    let p99 = med(&runs, |r| r["latency"][l]["p99_ms"].as_f64());
                    format!("{l} {} / {}", fmt(p50, 2), fmt(p99, 2))
                })
                .collect();
            s += &format!(
                "| {name} | {side} | {ok}/{} | {} | {} | {} | {} | {} ({}) | {} | {} |\n",
                runs.len(),
                fmt(wall, 3),
                fmt(med(&runs, |r| r["server_events_per_s"].as_f64()), 0),
                fmt(med(&runs, |r| r["client_events_per_s"].as_f64()), 0),
                fmt(cpu, 3),
                fmt(peak.map(|k| k / 1024.0), 1),
                fmt(before.map(|k| k / 1024.0), 1),
                fmt(med(&runs, |r| r["server_cpu_s"].as_f64()), 3),
                lat.join("; "),
            );
            medians.insert(side, (wall, cpu, peak));
        }
        if let (Some((aw, ac, ap)), Some((rw, rc, rp))) =
            (medians.get("agentd"), medians.get("reference"))
        {
            let ratio = |a: &Option<f64>, r: &Option<f64>| match (a, r) {
                (Some(a), Some(r)) if *r > 0.0 => Some(a / r),
                _ => None,
            };
            s += &format!(
                "| {name} | **agentd / reference** | | **{}×** | | | **{}×** | **{}×** | | |\n",
                fmt(ratio(aw, rw), 2),
                fmt(ratio(ac, rc), 2),
                fmt(ratio(ap, rp), 2),
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_medians() {
        assert_eq!(pct(&[], 50.0), None);
        // Nearest rank over the sorted values, as run_peer.py.
        assert_eq!(pct(&[4.0, 1.0, 3.0, 2.0], 50.0), Some(3.0));
        assert_eq!(pct(&[4.0, 1.0, 3.0, 2.0], 99.0), Some(4.0));
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(vec![f64::NAN, 5.0]), Some(5.0));
        assert_eq!(median(vec![]), None);
    }

    #[test]
    fn latencies_are_summarised_in_ms() {
        let s = lat_summary(&json!({"tool_rtt": [0.001, 0.002, 0.003], "empty": []}));
        assert_eq!(s["tool_rtt"], json!({"n": 3, "p50_ms": 2.0, "p99_ms": 3.0}));
        assert_eq!(s["empty"], json!({"n": 0, "p50_ms": null, "p99_ms": null}));
        assert_eq!(lat_summary(&Value::Null), json!({}));
    }

    #[test]
    fn the_table_has_medians_per_side_and_their_ratio() {
        let run = |side: &str, wall: f64, cpu: f64, peak_kb: f64| {
            json!({
                "scenario": "tool_calls", "side": side, "ok": true, "wall_s": wall,
                "client_cpu_s": cpu, "client_peak_rss_kb": peak_kb,
                "client_rss_before_kb": 1024.0,
                "latency": {"tool_rtt": {"p50_ms": 1.0, "p99_ms": 2.0}},
            })
        };
        let results = [
            run("agentd", 1.0, 0.5, 2048.0),
            run("agentd", 3.0, 0.5, 2048.0),
            run("reference", 4.0, 2.0, 8192.0),
            json!({"scenario": "tool_calls", "side": "reference", "ok": false}),
        ];
        let t = table(&results, &["tool_calls".to_string(), "handoff".to_string()]);
        let rows: Vec<&str> = t.lines().collect();
        assert_eq!(rows.len(), 5, "{t}");
        assert!(
            rows[2].starts_with("| tool_calls | agentd | 2/2 | 2.000 |"),
            "{t}"
        );
        assert!(rows[2].contains("| 2.0 (1.0) |"), "{t}");
        assert!(rows[2].contains("tool_rtt 1.00 / 2.00"), "{t}");
        // The failed run counts in ok, not in the medians (it has no figures).
        assert!(
            rows[3].starts_with("| tool_calls | reference | 1/2 | 4.000 |"),
            "{t}"
        );
        assert_eq!(
            rows[4],
            "| tool_calls | **agentd / reference** | | **0.50×** | | | **0.25×** | **0.25×** | | |"
        );
    }
}
