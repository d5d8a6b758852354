//! The ApiVersions handshake, and the table of versions a broker supports.
//!
//! The first request on every connection is ApiVersions at the highest version we speak. A broker
//! that does not know that version answers `UNSUPPORTED_VERSION` with its ranges in the v0 layout
//! (and a v0 response header), so we retry once at the highest ApiVersions version it lists.
//! Afterwards each request uses `min(our max, broker max)` if that is at least both minimums;
//! otherwise the broker is too old (or too new) for that API and the call fails with
//! [`Error::UnsupportedVersion`].

use std::time::Duration;

use super::BrokerConnection;
use crate::error::{Error, Result};
use crate::error_code::ErrorCode;
use crate::protocol::api::{negotiate, ApiKey, Request, VersionRange};
use crate::protocol::messages::api_versions::{ApiVersionsRequest, ApiVersionsResponse};

/// Version ranges one broker advertises, indexed by API key.
#[derive(Debug, Clone, Default)]
pub struct ApiVersionTable {
    ranges: Vec<Option<VersionRange>>,
}

impl ApiVersionTable {
    pub fn from_response(resp: &ApiVersionsResponse) -> Self {
        let mut ranges = Vec::new();
        for e in &resp.api_keys {
            let Ok(key) = usize::try_from(e.api_key) else {
                continue;
            };
            if key > 1024 {
                continue;
            }
            if ranges.len() <= key {
                ranges.resize(key + 1, None);
            }
            ranges[key] = Some(VersionRange {
                min: e.min_version,
                max: e.max_version,
            });
        }
        ApiVersionTable { ranges }
    }

    pub fn get(&self, api: ApiKey) -> Option<VersionRange> {
        self.ranges.get(api.code() as usize).copied().flatten()
    }

    /// The version to speak for `R` with this broker.
    pub fn negotiate<R: Request>(&self, broker: &str) -> Result<i16> {
        let ours = VersionRange {
            min: R::MIN_VERSION,
            max: R::MAX_VERSION,
        };
        let theirs = self
            .get(R::API_KEY)
            .ok_or_else(|| Error::UnsupportedVersion {
                broker: broker.to_string(),
                message: format!("the broker does not offer the {} API", R::API_KEY.name()),
            })?;
        negotiate(ours, theirs).ok_or_else(|| Error::UnsupportedVersion {
            broker: broker.to_string(),
            message: format!(
                "{} versions {}..={} offered, kafka_rs speaks {}..={} (brokers 2.1 and newer are supported)",
                R::API_KEY.name(),
                theirs.min,
                theirs.max,
                ours.min,
                ours.max
            ),
        })
    }
}

/// Runs the ApiVersions exchange on a fresh connection.
pub(super) async fn handshake(conn: &BrokerConnection) -> Result<ApiVersionTable> {
    let req = ApiVersionsRequest::default();
    let mut version = ApiVersionsRequest::MAX_VERSION;
    loop {
        let resp = conn.request_at(&req, version, Duration::ZERO).await?;
        let code = ErrorCode(resp.error_code);
        if code == ErrorCode::UNSUPPORTED_VERSION && version > 0 {
            let table = ApiVersionTable::from_response(&resp);
            let theirs = table
                .get(ApiKey::ApiVersions)
                .unwrap_or(VersionRange { min: 0, max: 0 });
            let next = theirs.max.min(version - 1).max(0);
            version = next;
            continue;
        }
        if !code.is_ok() {
            return Err(Error::kafka(
                code,
                format!("ApiVersions from {}", conn.addr()),
            ));
        }
        return Ok(ApiVersionTable::from_response(&resp));
    }
}
