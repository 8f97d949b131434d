//! The switch configuration Ironic's networking service reads, rendered from the
//! BareMetalSwitches of one namespace and their credentials (pure; the controller in
//! [`crate::switch`] reads and writes the Secrets).
//!
//! The layout is upstream's: one Secret holds `switch-configs.conf`, an INI file with a
//! `[switch:<name>]` section per switch (in name order); a second Secret holds the SSH private
//! keys of switches that log in with a key, as `<mac-with-dashes>.key`, which the INI names by
//! their path where that Secret is mounted. A switch whose credentials are unusable is left out
//! and reported; it never stops the others. Credentials appear nowhere but in the output maps.

use std::collections::BTreeMap;

use metal3_api::v1alpha1::BareMetalSwitch;

/// Key of the INI file in the switch configuration Secret.
pub const CONFIG_KEY: &str = "switch-configs.conf";

const HEADER: &str = "# Switch configuration for Ironic networking, written by the Metal3 \
                      operator from the BareMetalSwitches; do not edit.\n\n";

/// The networking settings, from upstream's environment variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwitchNetworking {
    /// `IRONIC_SWITCH_CONFIGS_SECRET`: the Secret the INI file is written to.
    pub configs_secret: String,
    /// `IRONIC_SWITCH_CREDENTIALS_SECRET`: the Secret the SSH private keys are written to.
    pub credentials_secret: String,
    /// `IRONIC_SWITCH_CREDENTIALS_PATH`: where that Secret is mounted for the networking service.
    pub credentials_path: String,
}

impl SwitchNetworking {
    /// Reads the settings as upstream does: `None` unless `IRONIC_NETWORKING_ENABLED` is true
    /// (Go's `strconv.ParseBool` spellings); when it is, the three names must all be set.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, String> {
        let enabled = var("IRONIC_NETWORKING_ENABLED").unwrap_or_default();
        let enabled = match enabled.as_str() {
            "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => false,
            "1" | "t" | "T" | "true" | "TRUE" | "True" => true,
            other => {
                return Err(format!(
                    "IRONIC_NETWORKING_ENABLED={other:?} is not a boolean (true or false)"
                ));
            }
        };
        if !enabled {
            return Ok(None);
        }
        let required = |name: &str| {
            var(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{name} must be set when IRONIC_NETWORKING_ENABLED=true"))
        };
        Ok(Some(Self {
            configs_secret: required("IRONIC_SWITCH_CONFIGS_SECRET")?,
            credentials_secret: required("IRONIC_SWITCH_CREDENTIALS_SECRET")?,
            credentials_path: required("IRONIC_SWITCH_CREDENTIALS_PATH")?,
        }))
    }
}

/// Why a switch was left out of the configuration (never contains a credential).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialProblem {
    /// The credentials Secret does not exist (yet): look again later.
    SecretMissing(String),
    /// The Secret or the switch is unusable as it is: wait for it to change.
    Unusable(String),
}

impl CredentialProblem {
    /// The message for the switch's `Valid` condition.
    pub fn message(&self) -> &str {
        match self {
            CredentialProblem::SecretMissing(m) | CredentialProblem::Unusable(m) => m,
        }
    }
}

/// A switch with what its credentials Secret held (`None`: the Secret does not exist).
pub struct SwitchInput<'a> {
    /// The switch.
    pub switch: &'a BareMetalSwitch,
    /// `namespace/name` of its credentials Secret, when one is named.
    pub secret_key: Option<String>,
    /// The Secret's data, when it exists.
    pub secret_data: Option<&'a BTreeMap<String, Vec<u8>>>,
}

/// What the two Secrets should hold, and which switches were left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Data of the configuration Secret: [`CONFIG_KEY`] → the INI file.
    pub config: BTreeMap<String, Vec<u8>>,
    /// Data of the credentials Secret: `<mac-with-dashes>.key` → SSH private key.
    pub key_files: BTreeMap<String, Vec<u8>>,
    /// Switches left out, by name.
    pub problems: BTreeMap<String, CredentialProblem>,
}

/// Renders the configuration of `switches` (any order; sections come out in name order).
pub fn render(switches: &[SwitchInput<'_>], credentials_path: &str) -> Rendered {
    let mut sorted: Vec<&SwitchInput<'_>> = switches.iter().collect();
    sorted.sort_by_key(|s| s.switch.metadata.name.clone().unwrap_or_default());
    let mut out = Rendered::default();
    let mut ini = String::from(HEADER);
    for input in sorted {
        let name = input.switch.metadata.name.clone().unwrap_or_default();
        match section(input, credentials_path) {
            Ok((text, key)) => {
                ini.push_str(&text);
                if let Some((file, bytes)) = key {
                    out.key_files.insert(file, bytes);
                }
            }
            Err(problem) => {
                out.problems.insert(name, problem);
            }
        }
    }
    out.config.insert(CONFIG_KEY.to_string(), ini.into_bytes());
    out
}

type KeyFile = (String, Vec<u8>);

fn section(
    input: &SwitchInput<'_>,
    credentials_path: &str,
) -> Result<(String, Option<KeyFile>), CredentialProblem> {
    let unusable = |m: String| Err(CredentialProblem::Unusable(m));
    let Some(secret) = input.secret_key.as_deref() else {
        return unusable("credentials secret reference is not set".into());
    };
    let Some(data) = input.secret_data else {
        return Err(CredentialProblem::SecretMissing(format!(
            "credentials secret {secret} not found"
        )));
    };
    let text = |key: &str| -> Result<Option<String>, CredentialProblem> {
        let Some(bytes) = data.get(key) else {
            return Ok(None);
        };
        let value = String::from_utf8(bytes.clone()).map_err(|_| {
            CredentialProblem::Unusable(format!(
                "credentials secret {secret}: {key:?} is not UTF-8 text"
            ))
        })?;
        one_line(&value, &format!("credentials secret {secret}: {key:?}"))?;
        Ok(Some(value))
    };
    let Some(username) = text("username")? else {
        return unusable(format!(
            "credentials secret {secret} missing 'username' key"
        ));
    };
    let spec = &input.switch.spec;
    let name = input.switch.metadata.name.as_deref().unwrap_or_default();
    one_line(&spec.address, "spec.address")?;
    one_line(&spec.device_type, "spec.deviceType")?;
    let mut s = format!(
        "[switch:{name}]\naddress={}\nmac_address={}\n",
        spec.address, spec.mac_address
    );
    if let Some(port) = spec.port {
        s.push_str(&format!("port={port}\n"));
    }
    s.push_str(&format!(
        "driver_type={}\ndevice_type={}\n",
        spec.driver.as_str(),
        spec.device_type
    ));
    if spec.disable_certificate_verification {
        s.push_str("insecure=true\n");
    }
    s.push_str(&format!("username={username}\n"));
    let mut key_file = None;
    if let Some(key) = data.get("ssh-privatekey") {
        let file = format!("{}.key", spec.mac_address.replace(':', "-"));
        let path = format!("{}/{file}", credentials_path.trim_end_matches('/'));
        s.push_str(&format!("key_file={path}\n"));
        key_file = Some((file, key.clone()));
    } else if let Some(password) = text("password")? {
        s.push_str(&format!("password={password}\n"));
    } else {
        return unusable(format!(
            "credentials secret {secret} missing 'password' or 'ssh-privatekey' key"
        ));
    }
    if let Some(enable) = text("admin-password")? {
        s.push_str(&format!("enable_secret={enable}\n"));
    }
    s.push('\n');
    Ok((s, key_file))
}

/// A value written as `key=value` must stay on its line: a line break would let it add keys
/// or sections of its own.
fn one_line(value: &str, what: &str) -> Result<(), CredentialProblem> {
    if value.contains(['\n', '\r']) {
        return Err(CredentialProblem::Unusable(format!(
            "{what} contains a line break, which the switch configuration cannot hold"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn switch(name: &str, spec: serde_json::Value) -> BareMetalSwitch {
        serde_json::from_value(json!({
            "apiVersion": "metal3.io/v1alpha1", "kind": "BareMetalSwitch",
            "metadata": {"name": name, "namespace": "net"}, "spec": spec,
        }))
        .expect("switch")
    }

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    fn ini(r: &Rendered) -> String {
        String::from_utf8(r.config[CONFIG_KEY].clone()).expect("utf-8")
    }

    #[test]
    fn password_and_key_switches_in_name_order() {
        let a = switch(
            "b-tor",
            json!({
                "address": "10.0.0.2", "macAddress": "aa:bb:cc:dd:ee:02",
                "deviceType": "netmiko_dell_os10", "port": 22,
                "disableCertificateVerification": true, "credentials": {"name": "b"}
            }),
        );
        let b = switch(
            "a-tor",
            json!({
                "address": "10.0.0.1", "macAddress": "aa:bb:cc:dd:ee:01",
                "deviceType": "netmiko_cisco_ios", "credentials": {"name": "a"}
            }),
        );
        let key_data = data(&[("username", "admin"), ("ssh-privatekey", "KEY")]);
        let pw_data = data(&[
            ("username", "root"),
            ("password", "pw"),
            ("admin-password", "en"),
        ]);
        let out = render(
            &[
                SwitchInput {
                    switch: &a,
                    secret_key: Some("net/b".into()),
                    secret_data: Some(&key_data),
                },
                SwitchInput {
                    switch: &b,
                    secret_key: Some("net/a".into()),
                    secret_data: Some(&pw_data),
                },
            ],
            "/etc/ironic/switch-credentials/",
        );
        assert!(out.problems.is_empty(), "{:?}", out.problems);
        let text = ini(&out);
        let body = text.split_once("\n\n").expect("header").1;
        assert_eq!(
            body,
            "[switch:a-tor]\naddress=10.0.0.1\nmac_address=aa:bb:cc:dd:ee:01\n\
             driver_type=generic-switch\ndevice_type=netmiko_cisco_ios\nusername=root\n\
             password=pw\nenable_secret=en\n\n\
             [switch:b-tor]\naddress=10.0.0.2\nmac_address=aa:bb:cc:dd:ee:02\nport=22\n\
             driver_type=generic-switch\ndevice_type=netmiko_dell_os10\ninsecure=true\n\
             username=admin\nkey_file=/etc/ironic/switch-credentials/aa-bb-cc-dd-ee-02.key\n\n"
        );
        assert_eq!(
            out.key_files,
            BTreeMap::from([("aa-bb-cc-dd-ee-02.key".to_string(), b"KEY".to_vec())])
        );
    }

    #[test]
    fn unusable_credentials_leave_only_that_switch_out() {
        let good = switch(
            "good",
            json!({"address": "a", "macAddress": "aa:bb:cc:dd:ee:01",
                                         "deviceType": "d", "credentials": {"name": "g"}}),
        );
        let s = |n: &str| {
            switch(
                n,
                json!({"address": "a", "macAddress": "aa:bb:cc:dd:ee:09",
                                             "deviceType": "d", "credentials": {"name": n}}),
            )
        };
        let (missing, nouser, nopw, injected, unset) = (
            s("missing"),
            s("nouser"),
            s("nopw"),
            s("injected"),
            switch(
                "unset",
                json!({
                "address": "a", "macAddress": "aa:bb:cc:dd:ee:08", "deviceType": "d"}),
            ),
        );
        let ok = data(&[("username", "u"), ("password", "secret-pw")]);
        let no_user = data(&[("password", "p")]);
        let no_pw = data(&[("username", "u")]);
        let evil = data(&[("username", "u"), ("password", "p\n[switch:evil]")]);
        let input = |sw, key: Option<&str>, d| SwitchInput {
            switch: sw,
            secret_key: key.map(String::from),
            secret_data: d,
        };
        let out = render(
            &[
                input(&good, Some("net/g"), Some(&ok)),
                input(&missing, Some("net/missing"), None),
                input(&nouser, Some("net/nouser"), Some(&no_user)),
                input(&nopw, Some("net/nopw"), Some(&no_pw)),
                input(&injected, Some("net/injected"), Some(&evil)),
                input(&unset, None, None),
            ],
            "/k",
        );
        assert!(ini(&out).contains("[switch:good]"));
        assert_eq!(ini(&out).matches("[switch:").count(), 1, "{}", ini(&out));
        assert!(matches!(
            out.problems["missing"],
            CredentialProblem::SecretMissing(_)
        ));
        assert!(out.problems["nouser"].message().contains("'username'"));
        assert!(
            out.problems["nopw"]
                .message()
                .contains("'password' or 'ssh-privatekey'")
        );
        assert!(out.problems["injected"].message().contains("line break"));
        assert!(out.problems["unset"].message().contains("not set"));
        for problem in out.problems.values() {
            assert!(
                !problem.message().contains("secret-pw") && !problem.message().contains("evil")
            );
        }
    }

    #[test]
    fn no_switches_still_writes_the_file() {
        let out = render(&[], "/k");
        assert_eq!(ini(&out), HEADER);
        assert!(out.key_files.is_empty());
    }

    #[test]
    fn settings_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(SwitchNetworking::from_env(env(&[])), Ok(None));
        assert_eq!(
            SwitchNetworking::from_env(env(&[("IRONIC_NETWORKING_ENABLED", "False")])),
            Ok(None)
        );
        assert!(SwitchNetworking::from_env(env(&[("IRONIC_NETWORKING_ENABLED", "yes")])).is_err());
        let missing = SwitchNetworking::from_env(env(&[("IRONIC_NETWORKING_ENABLED", "true")]));
        assert!(
            missing
                .expect_err("names required")
                .contains("IRONIC_SWITCH_CONFIGS_SECRET")
        );
        let full = SwitchNetworking::from_env(env(&[
            ("IRONIC_NETWORKING_ENABLED", "1"),
            ("IRONIC_SWITCH_CONFIGS_SECRET", "metal3-switch-configs"),
            (
                "IRONIC_SWITCH_CREDENTIALS_SECRET",
                "metal3-switch-credentials",
            ),
            (
                "IRONIC_SWITCH_CREDENTIALS_PATH",
                "/etc/ironic/switch-credentials",
            ),
        ]));
        assert_eq!(
            full.expect("valid").expect("enabled").configs_secret,
            "metal3-switch-configs"
        );
    }
}
