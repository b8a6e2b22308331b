//! `redis-benchmark`, the baseline the store benchmarks compare against in the same run.

use std::process::Command;

/// Requests per second of `redis-benchmark -n requests -c clients -P pipeline -r 100000000
/// COMMAND...` against 127.0.0.1:`port` (`__rand_int__` in the command is replaced per request).
pub fn redis_benchmark_rps(
    port: u16,
    requests: u64,
    clients: u64,
    pipeline: u32,
    command: &[String],
) -> f64 {
    let output = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-n", &requests.to_string(), "-c", &clients.to_string()])
        .args(["-P", &pipeline.to_string()])
        .args(["-r", "100000000", "--csv"])
        .args(command)
        .output()
        .expect("run redis-benchmark (apt-get install -y redis-tools)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "redis-benchmark failed: {text}");
    // --csv: a header line, then "<test>","<rps>",...
    text.lines()
        .filter_map(|line| line.split("\",\"").nth(1))
        .find_map(|rps| rps.trim_matches('"').parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no requests/s in redis-benchmark output:\n{text}"))
}
