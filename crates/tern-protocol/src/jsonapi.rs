//! JSON:API documents as TFE writes them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The media type of every JSON:API body.
pub const MEDIA_TYPE: &str = "application/vnd.api+json";

/// A resource's attributes: which JSON:API `type` they belong to and what relationships it has.
pub trait Attributes {
    /// The resource's `type` (`workspaces`, `runs`…).
    const TYPE: &'static str;
    /// Its `relationships` object ([`NoRelationships`] when it has none).
    type Relationships: Relationships;
}

/// A resource's `relationships` object.
pub trait Relationships {
    /// Leave the object out of the document (a resource without relationships).
    fn is_absent(&self) -> bool {
        false
    }
}

/// The relationships of a resource that has none (the member is left out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoRelationships {}

impl Relationships for NoRelationships {
    fn is_absent(&self) -> bool {
        true
    }
}

/// One resource: `id`, `type`, `attributes`, `relationships` and `links`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(
    serialize = "A: Serialize, A::Relationships: Serialize",
    deserialize = "A: Deserialize<'de>, A::Relationships: Deserialize<'de> + Default"
))]
pub struct Resource<A: Attributes> {
    /// Its id.
    pub id: String,
    /// Its type ([`Attributes::TYPE`] when tern wrote it).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its attributes.
    pub attributes: A,
    /// Its relationships.
    #[serde(default, skip_serializing_if = "Relationships::is_absent")]
    pub relationships: A::Relationships,
    /// `links.self`, where it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<SelfLink>,
}

impl<A: Attributes> Resource<A> {
    /// A resource of `A`'s type.
    pub fn new(id: impl Into<String>, attributes: A, relationships: A::Relationships) -> Self {
        Self { id: id.into(), kind: A::TYPE.to_owned(), attributes, relationships, links: None }
    }

    /// With `links.self`.
    #[must_use]
    pub fn with_self_link(mut self, path: String) -> Self {
        self.links = Some(SelfLink { self_: path });
        self
    }
}

/// `links` of a single resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfLink {
    /// `self`.
    #[serde(rename = "self")]
    pub self_: String,
}

/// `{"id", "type"}`: a resource named in a relationship.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRef {
    /// Its id.
    pub id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
}

impl ResourceRef {
    /// `id` of type `kind`.
    pub fn new(id: impl Into<String>, kind: &str) -> Self {
        Self { id: id.into(), kind: kind.to_owned() }
    }
}

/// A to-one relationship: `{"data": {"id", "type"}}` or `{"data": null}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToOne {
    /// The related resource, if any.
    #[serde(default)]
    pub data: Option<ResourceRef>,
}

impl ToOne {
    /// Related to `id` of type `kind`.
    pub fn to(id: impl Into<String>, kind: &str) -> Self {
        Self { data: Some(ResourceRef::new(id, kind)) }
    }

    /// Related to `id` when there is one.
    pub fn maybe(id: Option<&str>, kind: &str) -> Self {
        Self { data: id.map(|id| ResourceRef::new(id, kind)) }
    }

    /// The related resource's id.
    pub fn id(&self) -> Option<&str> {
        self.data.as_ref().map(|r| r.id.as_str())
    }
}

/// A to-many relationship: `{"data": [{"id", "type"}…]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToMany {
    /// The related resources.
    #[serde(default)]
    pub data: Vec<ResourceRef>,
}

impl ToMany {
    /// Related to `ids`, all of type `kind`.
    pub fn of<'a>(ids: impl IntoIterator<Item = &'a String>, kind: &str) -> Self {
        Self { data: ids.into_iter().map(|id| ResourceRef::new(id.clone(), kind)).collect() }
    }

    /// The related resources' ids.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.data.iter().map(|r| r.id.as_str())
    }
}

/// A document with one primary resource (or list of resources without pagination), and what
/// an `include` asked for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document<T> {
    /// The primary data.
    pub data: T,
    /// Included resources (`?include=`), of any type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included: Vec<Value>,
}

impl<T> Document<T> {
    /// `data` alone.
    pub fn new(data: T) -> Self {
        Self { data, included: Vec::new() }
    }
}

/// A page of a list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListDocument<T> {
    /// This page's resources.
    pub data: Vec<T>,
    /// Links to this, the first, previous, next and last pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<PageLinks>,
    /// The pagination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<ListMeta>,
    /// Included resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub included: Vec<Value>,
}

impl<T> ListDocument<T> {
    /// A complete list on one page (TFE paginates even those).
    pub fn single_page(data: Vec<T>) -> Self {
        let n = data.len() as u64;
        Self {
            data,
            links: None,
            meta: Some(ListMeta { pagination: Pagination::single(n) }),
            included: Vec::new(),
        }
    }
}

/// `links` of a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageLinks {
    /// This page.
    #[serde(rename = "self")]
    pub self_: String,
    /// The first page.
    pub first: String,
    /// The previous page.
    pub prev: Option<String>,
    /// The next page.
    pub next: Option<String>,
    /// The last page.
    pub last: String,
}

/// `meta` of a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListMeta {
    /// Where this page is.
    pub pagination: Pagination,
}

/// TFE's `meta.pagination`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Pagination {
    /// 1-based.
    pub current_page: u64,
    /// Items per page (absent from lists that are never cut).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u64>,
    /// The previous page, if any.
    pub prev_page: Option<u64>,
    /// The next page, if any.
    pub next_page: Option<u64>,
    /// How many pages.
    pub total_pages: u64,
    /// How many items in all.
    pub total_count: u64,
}

impl Pagination {
    /// All `n` items on one page.
    pub fn single(n: u64) -> Self {
        Self {
            current_page: 1,
            page_size: None,
            prev_page: None,
            next_page: None,
            total_pages: 1,
            total_count: n,
        }
    }
}

/// An error document: `{"errors": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDocument {
    /// The errors (tern writes one).
    pub errors: Vec<ErrorObject>,
}

impl ErrorDocument {
    /// The first error's `detail` (what to show a user), else its title.
    pub fn detail(&self) -> Option<&str> {
        self.errors.first().map(|e| if e.detail.is_empty() { e.title.as_str() } else { e.detail.as_str() })
    }
}

/// One error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The HTTP status, as a string.
    pub status: String,
    /// A short, fixed summary.
    pub title: String,
    /// What went wrong and what to do.
    #[serde(default)]
    pub detail: String,
    /// Which part of the request was wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ErrorSource>,
}

/// `source` of an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorSource {
    /// A JSON pointer into the request document (`/data/attributes/name`).
    pub pointer: String,
}
