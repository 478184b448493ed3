//! `tern-bench`: the measuring tools `scripts/bench` drives. Each subcommand does one bounded
//! measurement and prints one JSON object on stdout; the script starts the servers and peers,
//! runs these from separate processes and writes the report.
//!
//! Every load loop has a fixed count and a time limit, and HTTP load goes only to loopback.

mod load;
mod mint;
mod runs;
mod seed;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tern-bench",
    version,
    about = "Measuring tools for scripts/bench (one JSON object per run on stdout)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// HTTP/1.1 keep-alive load on one loopback URL from one thread: requests per second and
    /// latency percentiles. The same client measures tern, nginx and OpenBao.
    Load(load::LoadArgs),
    /// In-process token minting on N threads with a key file: mints per second.
    Mint(mint::MintArgs),
    /// Fill a store with an organization and N workspaces (through tern-store, as the API would).
    Seed(seed::SeedArgs),
    /// Through a running server's API: mint latency on one job, then run dispatch throughput
    /// with synthetic agents (claim, mint one token, finish).
    Runs(runs::RunsArgs),
    /// Mint latency on several servers at once, interleaved in rounds (same noise for all).
    Latency(runs::LatencyArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Load(a) => load::run(a),
        Command::Mint(a) => mint::run(a),
        Command::Seed(a) => seed::run(a),
        Command::Runs(a) => runs::run(a),
        Command::Latency(a) => runs::latency(a),
    };
    match result {
        Ok((report, ok)) => {
            println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(e) => {
            eprintln!("tern-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Percentiles (nearest rank) of sorted microsecond samples, in milliseconds.
pub(crate) fn percentiles(sorted_us: &[u64]) -> serde_json::Value {
    let at = |p: f64| -> f64 {
        if sorted_us.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
        sorted_us[rank.clamp(1, sorted_us.len()) - 1] as f64 / 1000.0
    };
    let mean = if sorted_us.is_empty() {
        0.0
    } else {
        sorted_us.iter().sum::<u64>() as f64 / sorted_us.len() as f64 / 1000.0
    };
    serde_json::json!({
        "p50": at(50.0), "p90": at(90.0), "p99": at(99.0), "max": at(100.0), "mean": mean,
        "samples": sorted_us.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::percentiles;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        let p = percentiles(&samples);
        assert_eq!(p["p50"], 50.0);
        assert_eq!(p["p99"], 99.0);
        assert_eq!(p["max"], 100.0);
        assert_eq!(percentiles(&[])["p99"], 0.0);
        assert_eq!(percentiles(&[7000])["p50"], 7.0);
    }
}
