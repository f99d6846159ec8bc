//! The journal's tests: records and reads, migration from v1, filters,
//! remembered answers, pruning, and the reader never holding up the writer.

use super::*;
use schema::SCHEMA_VERSION;
fn call(session: &str, call_id: &str, decision: &str) -> Record {
    Record::ToolCall {
        session: session.into(),
        call_id: call_id.into(),
        agent: "a".into(),
        tool: "calc.add".into(),
        arguments: "{}".into(),
        decision: decision.into(),
        plugin_hash: "ab12".into(),
    }
}

fn all(limit: usize) -> AuditFilter {
    AuditFilter {
        limit,
        ..AuditFilter::default()
    }
}

fn of(session: &str, limit: usize) -> AuditFilter {
    AuditFilter {
        session: Some(session.into()),
        limit,
        ..AuditFilter::default()
    }
}

#[tokio::test]
async fn records_a_call_its_approvals_and_its_result() {
    let j = Journal::in_memory().unwrap();
    j.record(Record::SessionStarted {
        session: "s1".into(),
        agent: "a".into(),
        model: "default".into(),
    })
    .await
    .unwrap();
    j.record(call("s1", "c1", "ask")).await.unwrap();
    j.record(Record::Approval {
        session: "s1".into(),
        call_id: "c1".into(),
        approved: true,
        always: false,
        decided_by: "uid:1000 (alice)".into(),
        reason: Some("checked".into()),
        latency_ms: 40,
    })
    .await
    .unwrap();
    j.record_later(Record::ToolResult {
        session: "s1".into(),
        call_id: "c1".into(),
        outcome: "completed".into(),
        output: "5".into(),
    });
    j.record(call("s2", "c9", "allow")).await.unwrap();
    let every = j.audit(all(10)).await.unwrap();
    assert_eq!(every.len(), 2);
    let s1 = j.audit(of("s1", 10)).await.unwrap();
    assert_eq!(s1.len(), 1);
    let c = &s1[0];
    assert_eq!(
        (
            c.decision.as_str(),
            c.outcome.as_deref(),
            c.output.as_deref()
        ),
        ("ask", Some("completed"), Some("5"))
    );
    assert_eq!(c.approvals.len(), 1);
    assert!(c.approvals[0].approved);
    assert_eq!(c.approvals[0].decided_by, "uid:1000 (alice)");
    assert_eq!(c.approvals[0].reason.as_deref(), Some("checked"));
    assert_eq!(c.approvals[0].latency_ms, Some(40));
    assert_eq!(c.plugin_hash.as_deref(), Some("ab12"));
}

#[tokio::test]
async fn a_file_journal_survives_reopening_and_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state").join("journal.sqlite3");
    {
        let j = Journal::open(&path).unwrap();
        j.record(call("s1", "c1", "allow")).await.unwrap();
    }
    assert_eq!(schema_version(&path), Some(SCHEMA_VERSION));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let j = Journal::open(&path).unwrap();
    assert_eq!(j.audit(of("s1", 10)).await.unwrap().len(), 1);
}

#[test]
fn an_unopenable_path_is_a_clear_error() {
    let err = Journal::open(Path::new("/proc/agentd-cannot-be-here/journal.sqlite3")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("journal /proc/agentd-cannot-be-here/journal.sqlite3:"),
        "{err}"
    );
}

/// A journal written by v1 (its schema verbatim, `user_version = 1`)
/// opens, migrates to v2, keeps its rows and takes v2 records.
#[tokio::test]
async fn a_v1_journal_is_migrated_to_v2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite3");
    {
        let c = Connection::open(&path).unwrap();
        c.execute_batch(&format!("{} PRAGMA user_version = 1;", schema::SCHEMA_V1))
            .unwrap();
        c.execute_batch(
            "INSERT INTO sessions VALUES ('s1', 'a', 'default', 1, 5, 'closed');
             INSERT INTO tool_calls VALUES ('s1', 'c1', 'a', 'calc.multiply', '{}', 'ask (policy)', 2, 'completed', '20', 4);
             INSERT INTO approvals VALUES ('s1', 'c1', 1, 0, 'uid:1000 (alice)', 3);",
        )
        .unwrap();
    }
    assert_eq!(schema_version(&path), Some(1));
    let j = Journal::open(&path).unwrap();
    assert_eq!(schema_version(&path), Some(SCHEMA_VERSION));
    let calls = j.audit(all(10)).await.unwrap();
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!(
        (c.decision.as_str(), c.plugin_hash.as_deref()),
        ("ask (policy)", None)
    );
    assert_eq!(c.approvals[0].decided_by, "uid:1000 (alice)");
    assert_eq!(
        (c.approvals[0].reason.as_deref(), c.approvals[0].latency_ms),
        (None, None)
    );
    j.record(call("s2", "c2", "allow (policy default)"))
        .await
        .unwrap();
    j.record(Record::Item {
        session: "s1".into(),
        item_id: "i1".into(),
        role: "user".into(),
        kind: "message".into(),
        content: "{}".into(),
    })
    .await
    .unwrap();
    assert_eq!(j.audit(all(10)).await.unwrap().len(), 2);
    assert_eq!(j.session("s1").await.unwrap().unwrap().items.len(), 1);
    drop(j);
    // Reopening a v2 file changes nothing.
    let j = Journal::open(&path).unwrap();
    assert_eq!(j.audit(all(10)).await.unwrap().len(), 2);
}

#[test]
fn a_journal_newer_than_this_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite3");
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99;")
        .unwrap();
    let err = Journal::open(&path).unwrap_err().to_string();
    assert!(
        err.contains("schema version is 99, newer than this agentd's"),
        "{err}"
    );
}

#[tokio::test]
async fn audits_filter_by_tool_pattern_and_time() {
    let j = Journal::in_memory().unwrap();
    let mut pay = call("s1", "p1", "ask");
    if let Record::ToolCall { tool, .. } = &mut pay {
        *tool = "pay.transfer".into();
    }
    j.record(call("s1", "c1", "allow")).await.unwrap();
    j.record(pay).await.unwrap();
    let f = |tool: &str| AuditFilter {
        tool: Some(tool.into()),
        limit: 10,
        ..AuditFilter::default()
    };
    let ids = |calls: Vec<AuditCall>| calls.into_iter().map(|c| c.call_id).collect::<Vec<_>>();
    assert_eq!(ids(j.audit(f("pay.*")).await.unwrap()), ["p1"]);
    assert_eq!(ids(j.audit(f("*.add")).await.unwrap()), ["c1"]);
    assert_eq!(j.audit(f("*")).await.unwrap().len(), 2);
    assert!(j.audit(f("pay")).await.is_err());
    let later = AuditFilter {
        since_ms: Some(now_ms() + 60_000),
        limit: 10,
        ..AuditFilter::default()
    };
    assert!(j.audit(later).await.unwrap().is_empty());
}

#[tokio::test]
async fn remembered_answers_lapse_with_the_policy_and_can_be_forgotten() {
    let j = Journal::in_memory().unwrap();
    j.record(Record::Remember {
        agent: "a".into(),
        tool: "pay.transfer".into(),
        policy_hash: "h1".into(),
        approve: true,
        decided_by: "uid:1000 (alice)".into(),
    })
    .await
    .unwrap();
    let got = j
        .remembered("a", "pay.transfer", "h1")
        .await
        .unwrap()
        .unwrap();
    assert!(got.approve && got.current);
    assert_eq!(j.remembered("a", "pay.transfer", "h2").await.unwrap(), None);
    assert_eq!(j.remembered("b", "pay.transfer", "h1").await.unwrap(), None);
    assert_eq!(j.remembered_all(Some("a")).await.unwrap().len(), 1);
    j.record(Record::Forget {
        agent: "a".into(),
        tool: None,
    })
    .await
    .unwrap();
    assert_eq!(j.remembered("a", "pay.transfer", "h1").await.unwrap(), None);
}

#[tokio::test]
async fn pruning_drops_old_ended_sessions_only() {
    let j = Journal::in_memory().unwrap();
    for s in ["old", "live"] {
        j.record(Record::SessionStarted {
            session: s.into(),
            agent: "a".into(),
            model: "m".into(),
        })
        .await
        .unwrap();
        j.record(call(s, "c1", "allow")).await.unwrap();
    }
    j.record(Record::SessionEnded {
        session: "old".into(),
        reason: "closed".into(),
    })
    .await
    .unwrap();
    // Nothing is old enough for a day's retention.
    let day = Retention {
        max_age: Some(Duration::from_secs(86_400)),
        max_size: None,
    };
    assert_eq!(j.prune(day).await.unwrap().sessions, 0);
    // A size bound of 0 prunes every ended session, never a live one.
    let tiny = Retention {
        max_age: None,
        max_size: Some(0),
    };
    let p = j.prune(tiny).await.unwrap();
    assert_eq!(p.sessions, 1);
    let left: Vec<String> = j
        .audit(all(10))
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.session)
        .collect();
    assert_eq!(left, ["live"]);
    assert!(j.session("old").await.unwrap().is_none());
    assert!(j.session("live").await.unwrap().is_some());
}

/// A generous bound for what must not wait at all, so a stuck journal
/// fails the test instead of hanging it.
async fn soon<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish"))
}

#[tokio::test]
async fn an_open_read_does_not_hold_up_writes() {
    let j = Journal::in_memory().unwrap();
    j.record(call("s1", "c1", "allow")).await.unwrap();
    let release = j.hold_reader().await;
    // The reader is inside a read transaction (as during a large audit);
    // a decision that must be journaled before it is acted on still commits.
    soon(
        "a record() while a read is open",
        j.record(call("s1", "c2", "ask")),
    )
    .await
    .unwrap();
    soon("a second record()", j.record(call("s2", "c3", "deny")))
        .await
        .unwrap();
    release.send(()).unwrap();
    // Read-your-writes: the audit after the read sees every resolved record.
    let calls = j.audit(all(10)).await.unwrap();
    let ids: Vec<&str> = calls.iter().map(|c| c.call_id.as_str()).collect();
    assert_eq!(ids, ["c3", "c2", "c1"]);
}

#[tokio::test]
async fn an_audit_sees_records_sent_before_it_without_waiting_for_their_commit() {
    let j = Journal::in_memory().unwrap();
    j.record(call("s1", "c1", "allow")).await.unwrap();
    j.record_later(Record::ToolResult {
        session: "s1".into(),
        call_id: "c1".into(),
        outcome: "completed".into(),
        output: "5".into(),
    });
    let calls = j.audit(of("s1", 10)).await.unwrap();
    assert_eq!(calls[0].outcome.as_deref(), Some("completed"));
}

#[tokio::test]
async fn the_audit_limit_is_clamped() {
    let j = Journal::in_memory().unwrap();
    for i in 0..MAX_AUDIT_LIMIT + 5 {
        j.record_later(call("s1", &format!("c{i}"), "allow"));
    }
    j.record(call("s1", "last", "allow")).await.unwrap();
    assert_eq!(
        j.audit(all(usize::MAX)).await.unwrap().len(),
        MAX_AUDIT_LIMIT
    );
    assert_eq!(j.audit(all(0)).await.unwrap().len(), 1);
    assert_eq!(j.audit(all(3)).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_temporary_journal_is_removed_with_its_last_handle() {
    let j = Journal::in_memory().unwrap();
    let dir = j._scratch.as_ref().unwrap().0.clone();
    j.record(call("s1", "c1", "allow")).await.unwrap();
    assert!(dir.join("journal.sqlite3").is_file());
    let copy = j.clone();
    drop(j);
    assert_eq!(copy.audit(all(10)).await.unwrap().len(), 1);
    drop(copy);
    // The threads close their connections, then the folder goes.
    soon("removing the temporary journal", async {
        while dir.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}
