//! Writing a gateway `Reply` to the client.

use pingora::http::ResponseHeader;
use pingora::prelude::*;

use crate::gateway::Reply;

pub async fn write_reply(session: &mut Session, reply: Reply) -> Result<()> {
    let (header, body) = into_parts(reply)?;
    let head_only = session.req_header().method == http::Method::HEAD;
    session
        .write_response_header(Box::new(header), head_only)
        .await?;
    if !head_only {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}

/// The response head (with its `content-length`) and the body of a reply.
pub fn into_parts(reply: Reply) -> Result<(ResponseHeader, bytes::Bytes)> {
    let mut header = ResponseHeader::build(reply.status, Some(reply.headers.len() + 1))?;
    for (name, value) in reply.headers {
        header.append_header(name, value)?;
    }
    header.insert_header("content-length", reply.body.len().to_string())?;
    Ok((header, reply.body))
}
