//! Default values from the reference, as functions so serde applies them and schemars writes
//! them into the schema as `default`.

/// `0` (priorities, retries).
pub(crate) fn zero_u32() -> u32 {
    0
}

/// `0` (expected exit codes).
pub(crate) fn zero_i32() -> i32 {
    0
}

/// `true` (criterion `required`).
pub(crate) fn yes() -> bool {
    true
}

/// `1` (Gate `requiredApprovers`).
pub(crate) fn one_u32() -> u32 {
    1
}

/// `200` (criterion `expectedStatus`).
pub(crate) fn http_ok() -> u16 {
    200
}
