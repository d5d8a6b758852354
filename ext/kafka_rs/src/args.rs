//! Conversions of the Ruby Arrays that native methods take (lists of cursors, of names, of
//! buffered messages), safe against Ruby code that runs during the conversion.
//!
//! Converting an element may run Ruby code: `to_str`, `to_ary` or `to_int` of an object that is
//! not already a String, Array or Integer. That code can change the Array being converted (clear
//! it, replace it, grow it: its element buffer is then freed) and run the GC. magnus's own
//! conversions of Arrays into `Vec<T>` and tuples (and `RArray::to_vec` / `to_array`) read the
//! elements through a slice of the Array's buffer taken once, before the first element is
//! converted: after such a change they read freed memory, and elements that only the Array kept
//! alive may have been collected. Hence the invariant of every method here:
//!
//! **No pointer into a Ruby Array's memory is held while Ruby code may run.** The elements are
//! first copied to places the GC scans and that Ruby code cannot reach (the machine stack, or a
//! hidden copy of the Array), then converted one by one.
//!
//! Native methods therefore take such arguments as `RArray`/`Value` and convert them here, never
//! as `Vec<T>` or tuples.

use magnus::{Error, RArray, TryConvert, Value};

/// Converts every element of `array` with `convert`, in order.
///
/// Iterates a hidden copy of `array` (`RArray::into_iter`: a copy-on-write duplicate, reachable
/// only from this stack frame, which keeps the elements alive and which no Ruby code can change),
/// reading each element afresh with a bounds-checked `rb_ary_entry`.
pub fn vec_of<T>(
    array: RArray,
    mut convert: impl FnMut(Value) -> Result<T, Error>,
) -> Result<Vec<T>, Error> {
    let mut out = Vec::with_capacity(array.len());
    for element in array {
        out.push(convert(element)?);
    }
    Ok(out)
}

/// Converts an Array (or an object with `to_ary`) of `T`s (`T` an owned Rust type).
pub fn vec<T: TryConvert>(value: Value) -> Result<Vec<T>, Error> {
    vec_of(RArray::try_convert(value)?, T::try_convert)
}

/// The elements of an Array (or an object with `to_ary`) of exactly `N` elements, copied onto the
/// stack (where the GC sees and pins them) before the caller converts any of them. A `TypeError`
/// for any other length.
pub fn fixed<const N: usize>(value: Value) -> Result<[Value; N], Error> {
    // `to_value_array` copies the N VALUEs out of the buffer before returning; no Ruby code runs
    // in between.
    RArray::try_convert(value)?.to_value_array::<N>()
}

/// `[String, String]` pairs.
pub fn string_pairs(value: Value) -> Result<Vec<(String, String)>, Error> {
    vec_of(RArray::try_convert(value)?, |pair| {
        let [a, b] = fixed::<2>(pair)?;
        Ok((String::try_convert(a)?, String::try_convert(b)?))
    })
}
