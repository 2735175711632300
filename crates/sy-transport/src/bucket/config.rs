//! Opening a bucket the AWS way: the standard environment variables, and nothing printed of
//! the secrets.
//!
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` are the credentials,
//! `AWS_REGION` (or `AWS_DEFAULT_REGION`) the region, `AWS_ENDPOINT_URL` an S3-compatible
//! server. With an endpoint, requests are path-style (`endpoint/bucket/key`, what such servers
//! expect) unless `AWS_S3_ADDRESSING_STYLE=virtual`, and an `http://` endpoint is allowed
//! without TLS. Everything else `object_store` reads from `AWS_*` applies too.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;

use super::url::{ObjectUrl, StoreKind};
use crate::{Error, Result};

/// The variable that picks path-style or virtual-hosted requests (`path` or `virtual`), as the
/// AWS CLI's `addressing_style` setting does.
const ADDRESSING_STYLE: &str = "AWS_S3_ADDRESSING_STYLE";

/// The variables, any one of which supplies credentials without a key in the environment.
const OTHER_CREDENTIALS: [&str; 3] = [
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
];

/// The client for `url`'s bucket, configured from the environment.
pub(crate) fn open_store(url: &ObjectUrl) -> Result<Arc<dyn ObjectStore>> {
    let refuse = |reason: String| Error::Store {
        action: "opening",
        location: format!("{}://{}", url.kind.scheme(), url.bucket),
        reason,
    };
    if url.kind != StoreKind::S3 {
        return Err(refuse(format!(
            "{}:// is not supported yet (only s3:// is)",
            url.kind.scheme()
        )));
    }
    let has_key = std::env::var_os("AWS_ACCESS_KEY_ID").is_some();
    if !has_key
        && !OTHER_CREDENTIALS
            .iter()
            .any(|v| std::env::var_os(v).is_some())
    {
        // Without this, the client would ask the EC2 instance-metadata address for a role.
        return Err(refuse(
            "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".to_owned(),
        ));
    }
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(&url.bucket);
    let endpoint = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
        .iter()
        .find_map(|v| std::env::var(v).ok());
    if let Some(endpoint) = &endpoint {
        let virtual_hosted = match std::env::var(ADDRESSING_STYLE).as_deref() {
            Ok("virtual") => true,
            Ok("path") | Ok("auto") | Err(_) => false,
            Ok(other) => {
                return Err(refuse(format!(
                    "{ADDRESSING_STYLE}={other:?}: expected `path` or `virtual`"
                )));
            }
        };
        builder = builder
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(virtual_hosted)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    let store = builder.build().map_err(|e| refuse(e.to_string()))?;
    Ok(Arc::new(store))
}
