//! Counted reasons: the fieldless enums a datapath counts by (why a packet was dropped, why
//! decapsulation or encapsulation failed), each reason declared once with its name in views
//! and its help text.

/// Declares a fieldless enum of counted reasons. Each variant is written
/// `Variant = ("name", "help")`: the name is what `drop-stats` and the metrics show, the
/// help its one-line description (and the variant's doc). Generates `COUNT`, `ALL` (counter
/// order), `index()` (a cast, no search), `name()` and `help()`.
#[macro_export]
macro_rules! counted_reasons {
    (
        $(#[$meta:meta])*
        $vis:vis enum $ty:ident {
            $( $(#[$vmeta:meta])* $var:ident = ($name:literal, $help:literal) ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $ty {
            $( #[doc = $help] $(#[$vmeta])* $var ),+
        }

        impl $ty {
            /// Number of reasons.
            pub const COUNT: usize = [$($name),+].len();
            /// Every reason, in counter order.
            pub const ALL: [$ty; Self::COUNT] = [$($ty::$var),+];

            /// Counter index: the reason's position in [`Self::ALL`].
            #[inline]
            pub fn index(self) -> usize {
                self as usize
            }

            /// Stable short name (drop-stats, metrics labels).
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$var => $name),+
                }
            }

            /// What the counter counts, in one line.
            pub fn help(self) -> &'static str {
                match self {
                    $($ty::$var => $help),+
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::counted_reasons! {
        /// Test reasons.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum R {
            A = ("a", "the first"),
            B = ("b", "the second"),
        }
    }

    #[test]
    fn index_name_help_follow_the_declaration() {
        assert_eq!(R::COUNT, 2);
        assert_eq!(R::ALL, [R::A, R::B]);
        for (i, r) in R::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        assert_eq!(R::B.name(), "b");
        assert_eq!(R::A.help(), "the first");
    }
}
