//! The `lifecycle` binary: parse arguments, run the analysis, map errors to exit codes
//! (0 success, 1 damaged capture with partial results, 2 usage error or unreadable input).

mod cli;

use clap::Parser;
use cli::{AnalyzeArgs, Cli, Command, FormatArg};
use indicatif::{ProgressBar, ProgressStyle};
use lifecycle::analyze::{Analyzer, Options};
use lifecycle::capture::open_input;
use lifecycle::export::{self, Format};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Analyze(args) => analyze(args),
    }
}

fn analyze(args: AnalyzeArgs) -> ExitCode {
    for (flag, v) in [
        ("--har", &args.har),
        ("--html", &args.html),
        ("--keylog", &args.keylog),
    ] {
        if v.is_some() {
            eprintln!("lifecycle: {flag} is not available yet in this version");
            return ExitCode::from(2);
        }
    }
    let format = match args.format {
        FormatArg::Csv => Format::Csv,
        FormatArg::Parquet => Format::Parquet,
        FormatArg::Json => Format::Json,
    };
    if args.out.is_some() && format != Format::Csv {
        eprintln!(
            "lifecycle: --format {} is not available yet in this version; use --format csv",
            format.ext()
        );
        return ExitCode::from(2);
    }
    if !(args.idle_gap.is_finite() && args.idle_gap > 0.0) {
        eprintln!("lifecycle: --idle-gap must be a positive number of milliseconds");
        return ExitCode::from(2);
    }
    let mut analyzer = Analyzer::new(Options {
        idle_gap_ms: args.idle_gap,
    });
    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    let mut exit = 0u8;
    let mut read_any = false;
    for path in &args.captures {
        let name = path.display().to_string();
        let (input, _compression) = match open_input(path) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("lifecycle: {name}: {e}");
                exit = exit.max(2);
                continue;
            }
        };
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let bar = if show_progress && size > 0 {
            let b = ProgressBar::new(size);
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})",
            ) {
                b.set_style(style);
            }
            b.set_message(name.clone());
            Some(b)
        } else {
            None
        };
        let mut progress = |pos: u64| {
            if let Some(b) = &bar {
                b.set_position(pos.min(size));
            }
        };
        match analyzer.feed_capture(&name, input, &mut progress) {
            Ok(()) => read_any = true,
            Err(e) => {
                eprintln!("lifecycle: {name}: {e}");
                if e.is_partial() {
                    read_any = true;
                    exit = exit.max(1);
                } else {
                    exit = exit.max(2);
                }
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    }
    let analysis = analyzer.finish();
    if let Some(dir) = &args.out {
        match export::write_tables(&analysis, dir, format) {
            Ok(files) => {
                if !args.quiet {
                    eprintln!("lifecycle: wrote {}", files.join(", "));
                }
            }
            Err(e) => {
                eprintln!("lifecycle: writing tables to {}: {e}", dir.display());
                return ExitCode::from(2);
            }
        }
    } else if !args.quiet && read_any {
        let color = std::io::stdout().is_terminal();
        let text = export::report::render(&analysis, color);
        let mut out = std::io::stdout().lock();
        // A closed pipe (`| head`) is not an error.
        if out
            .write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .is_err()
        {
            return ExitCode::from(exit);
        }
    }
    ExitCode::from(exit)
}
