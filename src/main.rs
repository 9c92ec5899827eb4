//! The `lifecycle` binary: parse arguments, run the analysis, map errors to exit codes
//! (0 success, 1 damaged capture with partial results, 2 usage error or unreadable input).

mod cli;

use clap::Parser;
use cli::{AnalyzeArgs, Cli, Command, FormatArg};
use indicatif::{ProgressBar, ProgressStyle};
use lifecycle::analyze::{Analyzer, Options};
use lifecycle::capture::open_input;
use lifecycle::correlate::{Fanout, RowSink, Shared};
use lifecycle::export::{self, Format};
use std::io::{ErrorKind, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

/// jemalloc rather than the system allocator: rows, DNS names and reassembly buffers are
/// many small allocations of varying sizes, and glibc's malloc spent a fifth of a run in
/// its bins (see README.md, "Speed and memory").
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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

/// Where an output goes.
enum Sink<'a> {
    Stdout,
    File(&'a Path),
}

fn sink(p: &Path) -> Sink<'_> {
    if p == Path::new("-") {
        Sink::Stdout
    } else {
        Sink::File(p)
    }
}

/// Writes one output to a file (atomically) or to standard output. A closed pipe on
/// standard output (`| head`) is not an error.
fn emit(
    what: &str,
    to: Sink,
    quiet: bool,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), ()> {
    let result = match to {
        Sink::Stdout => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match write(&mut out).and_then(|_| out.flush()) {
                Err(e) if e.kind() == ErrorKind::BrokenPipe => Ok(()),
                r => r,
            }
        }
        Sink::File(p) => {
            let r = export::write_atomic(p, write);
            if r.is_ok() && !quiet {
                eprintln!("lifecycle: wrote {}", p.display());
            }
            r
        }
    };
    result.map_err(|e| {
        let target = match to {
            Sink::Stdout => "standard output".to_string(),
            Sink::File(p) => p.display().to_string(),
        };
        eprintln!("lifecycle: writing {what} to {target}: {e}");
    })
}

fn analyze(args: AnalyzeArgs) -> ExitCode {
    let keylog = match &args.keylog {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                eprintln!("lifecycle: --keylog {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let format = match args.format {
        FormatArg::Csv => Format::Csv,
        FormatArg::Parquet => Format::Parquet,
        FormatArg::Json => Format::Json,
    };
    let out_stdout = args.out.as_deref().is_some_and(|p| p == Path::new("-"));
    if out_stdout && format != Format::Json {
        eprintln!(
            "lifecycle: --out - writes JSON to standard output; add --format json (or give a directory for {})",
            format.ext()
        );
        return ExitCode::from(2);
    }
    let on_stdout = [
        args.out.as_deref(),
        args.har.as_deref(),
        args.html.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter(|p| *p == Path::new("-"))
    .count();
    if on_stdout > 1 {
        eprintln!("lifecycle: only one of --out, --har, --html can write to standard output (-)");
        return ExitCode::from(2);
    }
    if !(args.idle_gap.is_finite() && args.idle_gap > 0.0) {
        eprintln!("lifecycle: --idle-gap must be a positive number of milliseconds");
        return ExitCode::from(2);
    }
    let threads = if args.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        args.threads
    };
    let mut analyzer = Analyzer::with_threads(
        Options {
            idle_gap_ms: args.idle_gap,
            // Every header is kept for the HAR only; the tables need the extracted fields.
            keep_http_headers: args.har.is_some(),
            ..Options::default()
        },
        threads,
    );
    // Table files, the report, the HAR document and the HTML page are all written while the
    // capture is read (memory bounded by live state): no output keeps every row.
    let mut sinks: Vec<Box<dyn RowSink>> = Vec::new();
    let table_dir = args.out.as_deref().filter(|_| !out_stdout);
    if let Some(dir) = table_dir {
        match export::stream::TableFiles::create(dir, format) {
            Ok(files) => sinks.push(Box::new(files)),
            Err(e) => {
                eprintln!("lifecycle: writing tables to {}: {e}", dir.display());
                return ExitCode::from(2);
            }
        }
    }
    // --out -: the large tables are streamed as JSON files into a private temporary
    // directory while the capture is read, and joined into one object at the end.
    let spool = if out_stdout {
        let files = Spool::create().and_then(|spool| {
            let files = export::stream::TableFiles::create(&spool.0, Format::Json)?;
            Ok((spool, files))
        });
        match files {
            Ok((spool, files)) => {
                sinks.push(Box::new(files));
                Some(spool)
            }
            Err(e) => {
                eprintln!("lifecycle: a temporary directory for --out -: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    // --har and --html: pages, entries and sections are spooled to a private temporary
    // directory as they are released, and joined into the documents at the end.
    let documents = if args.har.is_some() || args.html.is_some() {
        let docs = Spool::create().and_then(|spool| {
            let har = match args.har {
                Some(_) => Some(export::har::spooled(&spool.0)?),
                None => None,
            };
            let html = match args.html {
                Some(_) => Some(export::html::spooled(&spool.0)?),
                None => None,
            };
            Ok((har, html, spool))
        });
        match docs {
            Ok((har, html, spool)) => {
                if let Some(doc) = &har {
                    sinks.push(Box::new(Shared(doc.clone())));
                }
                if let Some(doc) = &html {
                    sinks.push(Box::new(Shared(doc.clone())));
                }
                Some((har, html, spool))
            }
            Err(e) => {
                eprintln!("lifecycle: a temporary directory for --har or --html: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    // Without --out the report goes to standard output, each navigation as it is released.
    let report = (args.out.is_none() && on_stdout == 0 && !args.quiet).then(|| {
        let color = std::io::stdout().is_terminal();
        let out = std::io::BufWriter::new(std::io::stdout());
        let report = Arc::new(Mutex::new(Some(export::report::Report::new(out, color))));
        sinks.push(Box::new(export::report::ReportSink(report.clone())));
        report
    });
    // With no output for them (`--quiet` alone), the rows go nowhere rather than into memory.
    if sinks.len() == 1
        && let Some(sink) = sinks.pop()
    {
        analyzer.stream_to(sink, false);
    } else {
        analyzer.stream_to(Box::new(Fanout(sinks)), false);
    }
    if let Some(bytes) = &keylog
        && analyzer.add_keylog(bytes) == 0
        && !args.quiet
    {
        eprintln!(
            "lifecycle: warning: --keylog has no usable key lines (NSS key log format expected)"
        );
    }

    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    let mut exit = 0u8;
    let mut read_any = false;
    for path in &args.captures {
        let name = path.display().to_string();
        let (input, compression) = match open_input(path) {
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
        match analyzer.feed_file(path, &name, input, compression, &mut progress) {
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
    let mut write_failed = false;
    let (har_doc, html_doc) = match &documents {
        Some((har, html, _)) => (har.as_ref(), html.as_ref()),
        None => (None, None),
    };
    if let (Some(path), Some(doc)) = (&args.har, har_doc) {
        let mut doc = doc.lock().unwrap_or_else(PoisonError::into_inner);
        write_failed |= emit("HAR", sink(path), args.quiet, |w| doc.finish(w)).is_err();
    }
    if let (Some(path), Some(doc)) = (&args.html, html_doc) {
        let mut doc = doc.lock().unwrap_or_else(PoisonError::into_inner);
        write_failed |= emit("HTML", sink(path), args.quiet, |w| {
            doc.finish(&analysis.captures, w)
        })
        .is_err();
        if doc.early_sections > 0 || doc.left_out > 0 {
            eprintln!(
                "lifecycle: --html: more than {} requests were waiting for their navigations or connections: {} navigation(s) drawn before a connection had ended, {} request(s) left out of the page (the tables have them)",
                export::html::MAX_HELD_REQUESTS,
                doc.early_sections,
                doc.left_out
            );
        }
    }
    if let Some(spool) = &spool {
        let streamed = match analyzer.take_sink() {
            Some(mut files) => files.close().map(|_| ()),
            None => Ok(()),
        };
        write_failed |= match streamed {
            Ok(()) => emit("tables", Sink::Stdout, args.quiet, |w| {
                export::write_tables_json_from(&analysis, &spool.0, w)
            })
            .is_err(),
            Err(e) => {
                eprintln!("lifecycle: writing tables: {e}");
                true
            }
        };
    } else if let Some(dir) = table_dir {
        let streamed = match analyzer.take_sink() {
            Some(mut files) => files.close(),
            None => Ok(Vec::new()),
        };
        let all = streamed.and_then(|mut files| {
            files.extend(export::write_small_tables(&analysis, dir, format)?);
            Ok(files)
        });
        match all {
            Ok(files) => {
                if !args.quiet {
                    eprintln!("lifecycle: wrote {}", files.join(", "));
                }
            }
            Err(e) => {
                eprintln!("lifecycle: writing tables to {}: {e}", dir.display());
                write_failed = true;
            }
        }
    }
    if write_failed {
        return ExitCode::from(2);
    }
    let report = report.and_then(|r| r.lock().unwrap_or_else(PoisonError::into_inner).take());
    if let Some(r) = report
        && read_any
    {
        // A closed pipe (`| head`) is not an error.
        let _ = r.finish(&analysis);
    }
    ExitCode::from(exit)
}

/// A private directory under the system's temporary directory (only the user can read it:
/// the tables may hold decrypted URLs), removed when dropped.
struct Spool(std::path::PathBuf);

impl Spool {
    fn create() -> std::io::Result<Self> {
        let base = std::env::temp_dir();
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        for i in 0..1000u32 {
            let dir = base.join(format!("lifecycle-{}-{i}", std::process::id()));
            match builder.create(&dir) {
                Ok(()) => return Ok(Spool(dir)),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other(
            "no free name for a temporary directory",
        ))
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
