//! Printing and reading API messages as the protobuf JSON mapping
//! (lowerCamelCase names, RFC 3339 timestamps), from the descriptors
//! compiled in.

use anyhow::Context as _;
use prost::Message;
use prost_reflect::{DynamicMessage, MessageDescriptor};

/// Prints `message` (of the fully qualified type `name`) as one JSON object.
pub(super) fn print<M: Message>(name: &str, message: &M) -> anyhow::Result<()> {
    outln!(
        "{}",
        serde_json::to_string_pretty(&dynamic(name, message)?)?
    )?;
    Ok(())
}

/// One message as one line of JSON (for JSON Lines).
pub(super) fn to_json_line<M: Message>(name: &str, message: &M) -> anyhow::Result<String> {
    Ok(serde_json::to_string(&dynamic(name, message)?)?)
}

/// Parses the protobuf JSON mapping of a message of type `name`.
pub(super) fn from_json<M: Message + Default>(name: &str, text: &str) -> anyhow::Result<M> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let dynamic = DynamicMessage::deserialize(descriptor(name)?, &mut deserializer)?;
    deserializer.end()?;
    Ok(dynamic.transcode_to::<M>()?)
}

fn dynamic<M: Message>(name: &str, message: &M) -> anyhow::Result<DynamicMessage> {
    Ok(DynamicMessage::decode(
        descriptor(name)?,
        message.encode_to_vec().as_slice(),
    )?)
}

/// The compiled-in descriptors are decoded once (`grpc::descriptors`):
/// decoding them for every line made `backup`, `export` and `restore`
/// spend most of their time there.
fn descriptor(name: &str) -> anyhow::Result<MessageDescriptor> {
    crate::grpc::descriptors()
        .get_message_by_name(name)
        .with_context(|| format!("no message {name} in the descriptors"))
}
