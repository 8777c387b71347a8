//! `answerlog health`: asks the server's gRPC health service, for a probe
//! (a container's health check, a script): exit status 0 when SERVING.

use anyhow::Context as _;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use super::client::connect;
use super::ServerArg;

/// Checks `service` ("" for the server as a whole); an error unless it is
/// SERVING.
pub(super) async fn check(server: &ServerArg, service: &str, json: bool) -> anyhow::Result<()> {
    let channel = connect(server).await?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .map_err(super::client::status_error)
        .with_context(|| format!("the health check of {service:?} failed"))?
        .into_inner();
    let status = ServingStatus::try_from(response.status).unwrap_or(ServingStatus::Unknown);
    let name = status.as_str_name();
    if json {
        outln!(
            "{}",
            serde_json::json!({ "service": service, "status": name })
        )?;
    } else {
        outln!("{name}")?;
    }
    anyhow::ensure!(status == ServingStatus::Serving, "not serving: {name}");
    Ok(())
}
