//! Admission rules for DataImage.

use metal3_api::v1alpha1::DataImage;

use crate::FieldError;
use crate::syntax::check_url;

/// Validates a DataImage on create (`old` is `None`) or update: the URL must be one the host's
/// BMC can fetch (http, https, ftp, gopher or oci).
pub fn validate_dataimage(new: &DataImage, _old: Option<&DataImage>) -> Vec<FieldError> {
    let url = &new.spec.url;
    match check_url(url) {
        Ok(()) => Vec::new(),
        Err(e) => vec![FieldError::new(
            "spec.url",
            format!("URL \"{url}\" is invalid: {e}"),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metal3_api::v1alpha1::DataImageSpec;

    #[test]
    fn urls() {
        let image = |url: &str| DataImage::new("worker-0", DataImageSpec { url: url.into() });
        for ok in [
            "http://example.com/data.iso",
            "https://example.com/a/b.img",
            "oci://registry/img:1",
        ] {
            assert!(validate_dataimage(&image(ok), None).is_empty(), "{ok}");
        }
        for (bad, message) in [
            (
                "abc",
                "URL \"abc\" is invalid: parse \"abc\": invalid URI for request",
            ),
            (
                "unix://example.com/sock",
                "invalid scheme in URL, \"unix\" not allowed",
            ),
            ("", "URL \"\" is invalid: parse \"\": empty url"),
        ] {
            let errors = validate_dataimage(&image(bad), None);
            assert_eq!(errors.len(), 1, "{bad}");
            assert_eq!(errors[0].field, "spec.url");
            assert!(
                errors[0].message.contains(message),
                "{bad}: {}",
                errors[0].message
            );
        }
    }
}
