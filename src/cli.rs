//! Command line → configuration. The only place that knows about flags.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "lifecycle",
    version,
    about = "The story of every page load in a packet capture"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Analyse one or more captures (pcap/pcapng, optionally gzip/zstd; `-` = stdin).
    Analyze(AnalyzeArgs),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Parquet,
    Csv,
    Json,
}

#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    /// Capture files; `-` reads standard input.
    #[arg(required = true)]
    pub captures: Vec<PathBuf>,
    /// Write every table to DIR/<table>.<ext>; `-` writes one JSON object
    /// {table: [rows]} to standard output (with --format json).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Table format for --out.
    #[arg(long, value_enum, default_value = "parquet")]
    pub format: FormatArg,
    /// Write a HAR 1.2 file (one page per navigation); `-` = standard output.
    #[arg(long, value_name = "FILE")]
    pub har: Option<PathBuf>,
    /// Write a self-contained HTML waterfall page; `-` = standard output.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// SSLKEYLOGFILE-format key log for TLS decryption (keys in pcapng Decryption Secrets
    /// Blocks are used too).
    #[arg(long, value_name = "FILE")]
    pub keylog: Option<PathBuf>,
    /// Quiet period (ms) that separates two navigations in encrypted traffic.
    #[arg(long, value_name = "MS", default_value_t = 2000.0)]
    pub idle_gap: f64,
    /// Worker threads (flows are sharded by host pair; the output is the same for any
    /// number). 0 = one per available core.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// No report on standard output and no progress bar.
    #[arg(long)]
    pub quiet: bool,
}
