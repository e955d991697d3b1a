//! Beyond one machine, checked offline: the `Containerfile` and the
//! Kubernetes manifests of `deploy/k8s/`. No image can be built or pulled
//! here, and `kubectl apply --dry-run=client` needs a cluster to discover
//! its API, so the manifests are checked against Kubernetes' own schemas by
//! PyPI's `kubernetes-validate` (strict), and the files against each other
//! and against the `emlab` they run.

use crate::support::peer_installed;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The value of the first `key: value` line after `after` in `text`.
fn value_after<'a>(text: &'a str, after: &str, key: &str) -> &'a str {
    let from = text.find(after).unwrap_or_else(|| panic!("no `{after}`"));
    text[from..]
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no `{key}` after `{after}`"))
        .trim()
        .trim_matches('"')
}

#[test]
fn the_kubernetes_manifests_pass_kubernetes_validate_and_agree_with_each_other() {
    let manifests: Vec<PathBuf> = std::fs::read_dir(repo("deploy/k8s"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    assert!(manifests.len() >= 4, "{manifests:?}");
    if peer_installed("kubernetes-validate", "PyPI kubernetes-validate") {
        let o = Command::new("kubernetes-validate")
            .arg("--strict")
            .args(&manifests)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // The Indexed Job runs N shards at once, and tells each it is one of N.
    let fleet = read("deploy/k8s/fleet-job.yaml");
    assert_eq!(value_after(&fleet, "spec:", "completionMode"), "Indexed");
    let n = value_after(&fleet, "spec:", "completions");
    assert_eq!(value_after(&fleet, "spec:", "parallelism"), n);
    assert_eq!(value_after(&fleet, "name: SHARDS", "value"), n);
    assert!(
        fleet.contains("- --shards\n            - $(SHARDS)"),
        "{fleet}"
    );
    // The merge reads every shard's folder, and the Job's own run name.
    let merge = read("deploy/k8s/merge-job.yaml");
    let n: usize = n.parse().unwrap();
    for i in 0..n {
        assert!(
            merge.contains(&format!("- /reports/$(RUN)/shard-{i}\n")),
            "shard-{i}"
        );
    }
    assert!(!merge.contains(&format!("shard-{n}\n")));
    assert!(fleet.contains("--out\n            - /reports/$(RUN)/shard-$(JOB_COMPLETION_INDEX)"));
    // The scenario and lab they name ship in the image.
    for f in [&fleet, &read("deploy/k8s/server.yaml")] {
        for path in f
            .split_whitespace()
            .filter(|w| w.starts_with("/opt/emlab/"))
        {
            let shipped = repo(&path.replace("/opt/emlab/", ""));
            assert!(shipped.is_file(), "{path} is not in the repository");
        }
    }
}

/// The fleet Job's arguments, with its variables set, are ones `emlab run`
/// takes: only the target (which resolves in a cluster only) is refused.
#[test]
fn the_fleet_jobs_arguments_are_emlabs() {
    let fleet = read("deploy/k8s/fleet-job.yaml");
    let args_at = fleet.find("args:").unwrap();
    let args: Vec<String> = fleet[args_at..]
        .lines()
        .skip(1)
        .take_while(|l| l.trim_start().starts_with("- "))
        .map(|l| {
            l.trim_start()[2..]
                .trim_matches('"')
                .replace("$(SHARDS)", "4")
                .replace("$(START_AT)", "2026-12-01T09:30:00Z")
                .replace("$(RUN)", "login-storm")
                .replace("$(JOB_COMPLETION_INDEX)", "0")
                .replace("/opt/emlab/", &format!("{}/", env!("CARGO_MANIFEST_DIR")))
        })
        .collect();
    assert_eq!(args[0], "run");
    let o = Command::new(env!("CARGO_BIN_EXE_emlab"))
        .args(&args)
        .env("JOB_COMPLETION_INDEX", "0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("emlab-server"),
        "only the cluster's host name is refused: {err}"
    );
}

#[test]
fn the_containerfile_builds_in_its_own_stage_and_runs_slim_and_non_root() {
    let c = read("Containerfile");
    let stages: Vec<&str> = c.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(stages.len(), 2, "multi-stage: {stages:?}");
    assert!(stages[0].contains(" AS build"), "{}", stages[0]);
    assert!(
        stages[1].contains("-slim"),
        "a small runtime image: {}",
        stages[1]
    );
    assert!(c.contains("cargo build --release --locked --bin emlab"));
    assert!(c.contains("COPY --from=build /src/target/release/emlab /usr/local/bin/emlab"));
    let user = c
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("a USER line");
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("a numeric user");
    assert_ne!(uid, 0, "non-root");
    // The manifests run as that user too.
    for m in ["server.yaml", "fleet-job.yaml", "merge-job.yaml"] {
        let text = read(&format!("deploy/k8s/{m}"));
        assert!(text.contains(&format!("runAsUser: {uid}")), "{m}");
    }
    // Build output stays out of the build context.
    for ignore in [".containerignore", ".dockerignore"] {
        assert!(read(ignore).lines().any(|l| l == "target"), "{ignore}");
    }
}
