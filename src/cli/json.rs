//! Printing API messages as the protobuf JSON mapping (lowerCamelCase
//! names, RFC 3339 timestamps), from the descriptors compiled in.

use anyhow::Context as _;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};

use crate::grpc::pb::FILE_DESCRIPTOR_SET;

/// Prints `message` (of the fully qualified type `name`) as one JSON object.
pub(super) fn print<M: Message>(name: &str, message: &M) -> anyhow::Result<()> {
    println!("{}", to_json(name, message)?);
    Ok(())
}

pub(super) fn to_json<M: Message>(name: &str, message: &M) -> anyhow::Result<String> {
    let pool =
        DescriptorPool::decode(FILE_DESCRIPTOR_SET).context("the compiled-in descriptors")?;
    let descriptor = pool
        .get_message_by_name(name)
        .with_context(|| format!("no message {name} in the descriptors"))?;
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())?;
    Ok(serde_json::to_string_pretty(&dynamic)?)
}
