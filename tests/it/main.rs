//! One integration-test binary, a module per theme (as ripgrep does).

mod cli;
mod golden_conv;
mod golden_proto;
mod lab;
mod util;
