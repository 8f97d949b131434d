//! The rules a host's BMC details and credentials Secret must follow, as pure functions: the
//! controller reads the Secret and asks these; a broken rule gives the message the host shows
//! (as [`CredentialsInput::Invalid`]), saying what is wrong and how to fix it.
//!
//! [`CredentialsInput::Invalid`]: crate::CredentialsInput::Invalid

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use metal3_api::v1alpha1::BmcDetails;
use metal3_provisioner::Credentials;

/// Checks the BMC details of a managed host before its Secret is read: the address is set and
/// parses, and a Secret is named. Returns the message of the first rule broken.
pub fn check_bmc(bmc: &BmcDetails) -> Result<(), String> {
    if bmc.address.is_empty() {
        return Err(
            "spec.bmc.address is empty; set the BMC address, e.g. redfish://10.0.0.1/redfish/v1/Systems/1"
                .into(),
        );
    }
    if let Err(e) = metal3_bmc::parse(&bmc.address) {
        return Err(format!("spec.bmc.address: {e}"));
    }
    if bmc.credentials_name.is_empty() {
        return Err(
            "spec.bmc.credentialsName is empty; name a Secret with keys \"username\" and \"password\""
                .into(),
        );
    }
    Ok(())
}

/// Takes the user name and password out of the data of the Secret `name`. Both keys must be
/// present and not empty; line endings at the end of a value (left by `echo` or an editor) are
/// dropped. Returns the message of the first rule broken, which never contains a value.
pub fn from_secret(name: &str, data: &BTreeMap<String, ByteString>) -> Result<Credentials, String> {
    let value = |key: &str| {
        data.get(key)
            .map(|v| {
                String::from_utf8_lossy(&v.0)
                    .trim_end_matches(['\r', '\n'])
                    .to_string()
            })
            .filter(|v| !v.is_empty())
    };
    let Some(username) = value("username") else {
        return Err(format!(
            "Secret {name:?} has no (or an empty) \"username\" key; add the BMC user name under data.username"
        ));
    };
    let Some(password) = value("password") else {
        return Err(format!(
            "Secret {name:?} has no (or an empty) \"password\" key; add the BMC password under data.password"
        ));
    };
    Ok(Credentials { username, password })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bmc(address: &str, credentials_name: &str) -> BmcDetails {
        BmcDetails {
            address: address.into(),
            credentials_name: credentials_name.into(),
            disable_certificate_verification: false,
        }
    }

    fn data(pairs: &[(&str, &[u8])]) -> BTreeMap<String, ByteString> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), ByteString(v.to_vec())))
            .collect()
    }

    #[test]
    fn bmc_details_rules() {
        let address = "redfish://10.0.0.1/redfish/v1/Systems/1";
        // (row, BMC details, the message, or None when they pass)
        let rows = [
            ("usable", bmc(address, "bmc-secret"), None),
            (
                "another driver family",
                bmc("ipmi://192.0.2.1:623", "bmc-secret"),
                None,
            ),
            (
                "no address",
                bmc("", "bmc-secret"),
                Some(
                    "spec.bmc.address is empty; set the BMC address, e.g. \
                     redfish://10.0.0.1/redfish/v1/Systems/1",
                ),
            ),
            (
                "an unknown driver",
                bmc("ilo4://192.0.2.1", "bmc-secret"),
                Some("spec.bmc.address: Unknown BMC type 'ilo4' for address ilo4://192.0.2.1"),
            ),
            (
                "no Secret named",
                bmc(address, ""),
                Some(
                    "spec.bmc.credentialsName is empty; name a Secret with keys \"username\" \
                     and \"password\"",
                ),
            ),
            (
                "the address is checked before the Secret's name",
                bmc("", ""),
                Some(
                    "spec.bmc.address is empty; set the BMC address, e.g. \
                     redfish://10.0.0.1/redfish/v1/Systems/1",
                ),
            ),
        ];
        for (name, details, message) in rows {
            assert_eq!(
                check_bmc(&details),
                message.map_or(Ok(()), |m| Err(m.to_string())),
                "{name}"
            );
        }
    }

    #[test]
    fn secret_rules() {
        let no_username = "Secret \"bmc-secret\" has no (or an empty) \"username\" key; add the \
                           BMC user name under data.username";
        let no_password = "Secret \"bmc-secret\" has no (or an empty) \"password\" key; add the \
                           BMC password under data.password";
        // (row, the Secret's data, the credentials, or the message)
        let rows = [
            (
                "both keys",
                data(&[("username", b"admin"), ("password", b"s3cret")]),
                Ok(("admin", "s3cret")),
            ),
            (
                "line endings at the end are dropped",
                data(&[("username", b"admin\n"), ("password", b"s3cret\r\n")]),
                Ok(("admin", "s3cret")),
            ),
            (
                "other whitespace is kept",
                data(&[("username", b" admin"), ("password", b"pass word ")]),
                Ok((" admin", "pass word ")),
            ),
            ("no data", data(&[]), Err(no_username)),
            (
                "no username",
                data(&[("password", b"s3cret")]),
                Err(no_username),
            ),
            (
                "a username that is only a newline",
                data(&[("username", b"\n"), ("password", b"s3cret")]),
                Err(no_username),
            ),
            (
                "no password",
                data(&[("username", b"admin")]),
                Err(no_password),
            ),
            (
                "an empty password",
                data(&[("username", b"admin"), ("password", b"")]),
                Err(no_password),
            ),
        ];
        for (name, secret, want) in rows {
            let want = want
                .map(|(username, password)| Credentials {
                    username: username.into(),
                    password: password.into(),
                })
                .map_err(str::to_string);
            assert_eq!(from_secret("bmc-secret", &secret), want, "{name}");
        }
    }

    #[test]
    fn messages_never_contain_a_value() {
        let secret = data(&[("username", b"admin-user")]);
        let message = from_secret("bmc-secret", &secret).expect_err("no password");
        assert!(!message.contains("admin-user"), "{message}");
    }
}
