//! The CPUs, from `/proc/cpuinfo` as IPA reads it: model, MHz, logical CPUs, flags, sockets.

use std::collections::BTreeSet;

use metal3_agent_api::inventory::Cpu;

/// The CPU summary `cpuinfo` (the text of `/proc/cpuinfo`) describes, for `architecture`.
pub fn parse(cpuinfo: &str, architecture: &str) -> Cpu {
    let mut cpu = Cpu {
        architecture: architecture.to_string(),
        ..Cpu::default()
    };
    let mut sockets = BTreeSet::new();
    for line in cpuinfo.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "processor" => cpu.count += 1,
            "model name" if cpu.model_name.is_empty() => cpu.model_name = value.to_string(),
            "cpu MHz" if cpu.frequency.is_empty() => cpu.frequency = value.to_string(),
            "flags" if cpu.flags.is_empty() => {
                cpu.flags = value.split_whitespace().map(str::to_string).collect();
            }
            "physical id" => {
                sockets.insert(value.to_string());
            }
            _ => {}
        }
    }
    cpu.socket_count = (!sockets.is_empty()).then_some(sockets.len() as u32);
    cpu
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_cpus_on_one_socket() {
        let text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: QEMU Virtual CPU version 2.5+\ncpu MHz\t\t: 2495.312\nphysical id\t: 0\nflags\t\t: fpu de pse tsc\n\nprocessor\t: 1\nmodel name\t: QEMU Virtual CPU version 2.5+\ncpu MHz\t\t: 2495.999\nphysical id\t: 0\nflags\t\t: fpu de pse tsc\n";
        let cpu = parse(text, "x86_64");
        assert_eq!(cpu.count, 2);
        assert_eq!(cpu.model_name, "QEMU Virtual CPU version 2.5+");
        assert_eq!(cpu.frequency, "2495.312", "the first CPU's");
        assert_eq!(cpu.flags, ["fpu", "de", "pse", "tsc"]);
        assert_eq!(cpu.socket_count, Some(1));
        assert_eq!(cpu.architecture, "x86_64");
    }

    #[test]
    fn no_physical_id_means_an_unknown_socket_count() {
        let cpu = parse("processor : 0\nmodel name : X\n", "aarch64");
        assert_eq!(cpu.count, 1);
        assert_eq!(cpu.socket_count, None);
        assert_eq!(parse("", "x86_64").count, 0);
    }
}
