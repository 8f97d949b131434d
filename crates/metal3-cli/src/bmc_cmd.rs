//! `metal3 bmc parse`: show how an address is understood (driver, interfaces, driver_info).

use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Parse a BMC address and print what it implies as one JSON object.
    Parse {
        /// The address, as in a BareMetalHost's `spec.bmc.address`.
        address: String,
        /// As `spec.bmc.disableCertificateVerification`: do not verify the BMC's TLS certificate.
        #[arg(long)]
        disable_certificate_verification: bool,
    },
}

pub fn run(cmd: &Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Parse {
            address,
            disable_certificate_verification,
        } => match metal3_bmc::describe(address, *disable_certificate_verification) {
            Ok(json) => {
                println!("{}", serde_json::to_string_pretty(&json)?);
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("{e}");
                Ok(ExitCode::FAILURE)
            }
        },
    }
}
