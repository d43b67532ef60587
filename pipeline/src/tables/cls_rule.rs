//! How a table's classifier holds its rules: by a handle that neither counts nor drops
//! the rule, the table's rule list being the owner. A version of the tables copies the
//! classifier chunks it changes; a learned-flow batch into a big table copies many
//! entries whose rules lie scattered in memory, and a counted reference would cost a
//! cache miss per entry on the copy and another on the old version's drop.

use super::Rule;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::sync::Arc;

/// A rule of a table's classifier. The same [`super::Table`] value's rule list owns an
/// `Arc` of it for as long as the classifier holds the handle (`Table::insert` and
/// `Table::remove` keep the two in step and take an owned reference before the list lets
/// go of one).
#[repr(transparent)]
pub(super) struct ClsRule(ManuallyDrop<Arc<Rule>>);

impl ClsRule {
    /// A handle to `rule`, which the caller's table list owns.
    pub(super) fn borrow(rule: &Arc<Rule>) -> ClsRule {
        ClsRule(ManuallyDrop::new(ClsRule::alias(rule)))
    }

    fn alias(rule: &Arc<Rule>) -> Arc<Rule> {
        // SAFETY: the pointer comes from a live `Arc<Rule>`; the `Arc` made here is only
        // ever held in a `ManuallyDrop`, never dropped, so the reference count stays what
        // the owners made it, and the rule stays alive while its table's list owns it
        // (see the type's doc).
        unsafe { Arc::from_raw(Arc::as_ptr(rule)) }
    }
}

impl Clone for ClsRule {
    fn clone(&self) -> Self {
        ClsRule::borrow(&self.0)
    }
}

impl Deref for ClsRule {
    type Target = Arc<Rule>;

    fn deref(&self) -> &Arc<Rule> {
        &self.0
    }
}
