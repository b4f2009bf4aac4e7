//! A small element tree of a MANSCDP body, bounded in depth and size.
//! Names are compared case-insensitively and without namespace prefixes,
//! and a field may be a child element or an attribute (devices do both).

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// Deepest nesting read.
pub const MAX_DEPTH: usize = 16;
/// Most elements read.
pub const MAX_ELEMENTS: usize = 20_000;

/// One element.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    /// Local name.
    pub name: String,
    /// Attributes (local names).
    pub attributes: Vec<(String, String)>,
    /// Text content, trimmed.
    pub text: String,
    /// Child elements.
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The text of child `name`, else the value of attribute `name`;
    /// `None` when absent or empty.
    pub fn field(&self, name: &str) -> Option<&str> {
        let text = self.child(name).map(|c| c.text.as_str()).or_else(|| {
            self.attributes
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        })?;
        let text = text.trim();
        (!text.is_empty()).then_some(text)
    }
}

/// Why a body is not a readable XML element tree.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// quick-xml's complaint.
    #[error("manscdp: xml: {0}")]
    Xml(String),
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("manscdp: nested deeper than {MAX_DEPTH} elements")]
    TooDeep,
    /// More than [`MAX_ELEMENTS`] elements.
    #[error("manscdp: more than {MAX_ELEMENTS} elements")]
    TooMany,
    /// No root element.
    #[error("manscdp: no root element")]
    Empty,
}

/// Reads the root element of `text`.
pub fn parse(text: &str) -> Result<Element, TreeError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = false;
    let mut stack: Vec<Element> = Vec::new();
    let mut count = 0usize;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| TreeError::Xml(e.to_string()))?;
        match event {
            Event::Start(start) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(TreeError::TooMany);
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(TreeError::TooDeep);
                }
                stack.push(element(&start)?);
            }
            Event::Empty(start) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(TreeError::TooMany);
                }
                let done = element(&start)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(done),
                }
            }
            Event::End(_) => {
                let Some(mut done) = stack.pop() else {
                    return Err(TreeError::Xml("end tag without a start".to_owned()));
                };
                done.text = done.text.trim().to_owned();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(done),
                }
            }
            Event::Text(text) => {
                if let Some(current) = stack.last_mut() {
                    let text = text.decode().map_err(|e| TreeError::Xml(e.to_string()))?;
                    current.text.push_str(&text);
                }
            }
            Event::CData(data) => {
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&String::from_utf8_lossy(&data));
                }
            }
            Event::GeneralRef(reference) => {
                if let Some(current) = stack.last_mut() {
                    if let Ok(Some(c)) = reference.resolve_char_ref() {
                        current.text.push(c);
                    } else {
                        let name = reference
                            .decode()
                            .map_err(|e| TreeError::Xml(e.to_string()))?;
                        match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(value) => current.text.push_str(value),
                            None => return Err(TreeError::Xml(format!("unknown entity &{name};"))),
                        }
                    }
                }
            }
            Event::Eof => return Err(TreeError::Empty),
            _ => {}
        }
    }
}

fn element(start: &BytesStart<'_>) -> Result<Element, TreeError> {
    let name = local(start.name().as_ref());
    let mut attributes = Vec::new();
    for attribute in start.attributes().take(64) {
        let attribute = attribute.map_err(|e| TreeError::Xml(e.to_string()))?;
        let value = attribute
            .unescape_value()
            .map_err(|e| TreeError::Xml(e.to_string()))?;
        attributes.push((local(attribute.key.as_ref()), value.trim().to_owned()));
    }
    Ok(Element {
        name,
        attributes,
        ..Element::default()
    })
}

fn local(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    name.rsplit(':').next().unwrap_or(&name).to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reads_elements_attributes_and_entities() {
        let root = parse(
            "<?xml version=\"1.0\"?><Response><CmdType>Catalog</CmdType>\
             <DeviceList Num=\"1\"><Item DeviceID=\"1\"><Name>A &amp; B&#x41;</Name></Item></DeviceList></Response>",
        )
        .unwrap();
        assert_eq!(root.field("cmdtype"), Some("Catalog"));
        let list = root.child("DeviceList").unwrap();
        assert_eq!(list.field("Num"), Some("1"));
        let item = &list.children[0];
        assert_eq!(item.field("DeviceID"), Some("1"));
        assert_eq!(item.field("Name"), Some("A & BA"));
    }

    #[test]
    fn bounded() {
        let deep = "<a>".repeat(40);
        assert_eq!(parse(&deep), Err(TreeError::TooDeep));
        assert_eq!(parse(""), Err(TreeError::Empty));
        assert_eq!(parse("<a><b>"), Err(TreeError::Empty));
    }
}
