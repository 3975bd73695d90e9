//! `switchboardctl`: the status CLI that talks to a running daemon's admin API.
//!
//! The admin API arrives with the supervision tree; until then this binary only
//! reports its version.

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "switchboardctl",
    version,
    about = "Inspect and steer a running switchboard daemon"
)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
    eprintln!("switchboardctl: no daemon commands yet (the admin API is not built)");
    std::process::exit(2);
}
