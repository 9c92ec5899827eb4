//! One integration-test binary, a module per theme (as ripgrep does).

mod adversarial;
mod cli;
mod export;
mod golden_conv;
mod golden_decrypted;
mod golden_proto;
mod lab;
mod threads;
mod util;
