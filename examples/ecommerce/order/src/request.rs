//! The body of `POST /v1/orders` and its rules.

use ecommerce_contracts::OrderLine;
use serde::{Deserialize, Serialize};

use crate::problem::{FieldError, Problem};

/// At most this many lines per order.
pub const MAX_ITEMS: usize = 100;
/// At most this many units per line.
pub const MAX_QUANTITY: u32 = 10_000;
/// At most this price per unit, in cents (1,000,000.00).
pub const MAX_UNIT_PRICE_CENTS: u64 = 100_000_000;
/// At most this many characters in `customer_id` and `product_id`.
pub const MAX_ID_LEN: usize = 64;

/// A request to place an order.
///
/// ```
/// use ecommerce_order::PlaceOrder;
///
/// let request: PlaceOrder = serde_json::from_str(
///     r#"{ "customer_id": "c-1", "items": [{ "product_id": "sku-1", "quantity": 2, "unit_price_cents": 1500 }] }"#,
/// )?;
/// assert_eq!(request.validate().ok(), Some(3000));
///
/// let zero: PlaceOrder = serde_json::from_str(
///     r#"{ "customer_id": "c-1", "items": [{ "product_id": "sku-1", "quantity": 0, "unit_price_cents": 1500 }] }"#,
/// )?;
/// let errors = zero.validate().unwrap_err();
/// assert_eq!(errors[0].to_string(), "items[0].quantity must be at least 1");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceOrder {
    /// Who orders; not empty.
    pub customer_id: String,
    /// What; 1 to [`MAX_ITEMS`] lines.
    pub items: Vec<OrderLine>,
}

/// A broken rule: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The field as a path: `items[1].quantity`.
    pub field: String,
    /// The same field as a JSON pointer: `#/items/1/quantity`.
    pub pointer: String,
    /// What is wrong: `must be at least 1`.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.field, self.message)
    }
}

impl PlaceOrder {
    /// Checks every rule and returns the order total in cents, or every broken rule.
    ///
    /// The rules: `customer_id` is not blank and at most [`MAX_ID_LEN`] characters;
    /// `items` has 1 to [`MAX_ITEMS`] lines; in each line `product_id` is not blank
    /// and at most [`MAX_ID_LEN`] characters, `quantity` is 1 to [`MAX_QUANTITY`],
    /// and `unit_price_cents` is 1 to [`MAX_UNIT_PRICE_CENTS`].
    pub fn validate(&self) -> Result<u64, Vec<Violation>> {
        let mut errors = Vec::new();
        check_id(
            &mut errors,
            "customer_id",
            "#/customer_id",
            &self.customer_id,
        );
        if self.items.is_empty() {
            errors.push(violation(
                "items",
                "#/items",
                "must contain at least one line",
            ));
        } else if self.items.len() > MAX_ITEMS {
            errors.push(violation(
                "items",
                "#/items",
                format!(
                    "must contain at most {MAX_ITEMS} lines (got {})",
                    self.items.len()
                ),
            ));
        } else {
            for (i, line) in self.items.iter().enumerate() {
                check_line(&mut errors, i, line);
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // Within the limits the total fits easily (100 * 10^4 * 10^8 = 10^14); the
        // checked sum keeps it so if the limits change.
        self.items
            .iter()
            .try_fold(0u64, |sum, line| sum.checked_add(line.total_cents()?))
            .ok_or_else(|| {
                vec![violation(
                    "items",
                    "#/items",
                    "add up to a total that does not fit in 64 bits",
                )]
            })
    }
}

fn check_line(errors: &mut Vec<Violation>, i: usize, line: &OrderLine) {
    check_id(
        errors,
        &format!("items[{i}].product_id"),
        &format!("#/items/{i}/product_id"),
        &line.product_id,
    );
    check_range(
        errors,
        i,
        "quantity",
        u64::from(line.quantity),
        u64::from(MAX_QUANTITY),
    );
    check_range(
        errors,
        i,
        "unit_price_cents",
        line.unit_price_cents,
        MAX_UNIT_PRICE_CENTS,
    );
}

/// `items[i].name` must be from 1 to `max`.
fn check_range(errors: &mut Vec<Violation>, i: usize, name: &str, value: u64, max: u64) {
    let (field, pointer) = (format!("items[{i}].{name}"), format!("#/items/{i}/{name}"));
    if value == 0 {
        errors.push(violation(field, pointer, "must be at least 1"));
    } else if value > max {
        errors.push(violation(
            field,
            pointer,
            format!("must be at most {max} (got {value})"),
        ));
    }
}

fn check_id(errors: &mut Vec<Violation>, field: &str, pointer: &str, value: &str) {
    if value.trim().is_empty() {
        errors.push(violation(field, pointer, "must not be empty"));
    } else if value.chars().count() > MAX_ID_LEN {
        errors.push(violation(
            field,
            pointer,
            format!(
                "must be at most {MAX_ID_LEN} characters (got {})",
                value.chars().count()
            ),
        ));
    }
}

fn violation(
    field: impl Into<String>,
    pointer: impl Into<String>,
    message: impl Into<String>,
) -> Violation {
    Violation {
        field: field.into(),
        pointer: pointer.into(),
        message: message.into(),
    }
}

/// 422 with every violation: the detail lists them, `errors` points at each field.
pub(crate) fn invalid_order(violations: Vec<Violation>) -> Problem {
    let detail = violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    let errors = violations
        .into_iter()
        .map(|v| FieldError {
            pointer: v.pointer,
            detail: v.message,
        })
        .collect();
    Problem::invalid(detail, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(product_id: &str, quantity: u32, unit_price_cents: u64) -> OrderLine {
        OrderLine {
            product_id: product_id.into(),
            quantity,
            unit_price_cents,
        }
    }

    fn messages(request: &PlaceOrder) -> Vec<String> {
        match request.validate() {
            Ok(total) => vec![format!("valid, total {total}")],
            Err(v) => v.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_valid_order_has_its_total() {
        let request = PlaceOrder {
            customer_id: "c-1".into(),
            items: vec![line("a", 2, 1500), line("b", 1, 99)],
        };
        assert_eq!(request.validate(), Ok(3099));
    }

    #[test]
    fn every_broken_rule_is_named_by_its_field() {
        let request = PlaceOrder {
            customer_id: "  ".into(),
            items: vec![
                line("a", 1, 1),
                line("", 0, 0),
                line("c", MAX_QUANTITY + 1, 1),
            ],
        };
        assert_eq!(
            messages(&request),
            [
                "customer_id must not be empty",
                "items[1].product_id must not be empty",
                "items[1].quantity must be at least 1",
                "items[1].unit_price_cents must be at least 1",
                "items[2].quantity must be at most 10000 (got 10001)",
            ]
        );
    }

    #[test]
    fn item_count_is_bounded() {
        let empty = PlaceOrder {
            customer_id: "c".into(),
            items: Vec::new(),
        };
        assert_eq!(messages(&empty), ["items must contain at least one line"]);
        let many = PlaceOrder {
            customer_id: "c".into(),
            items: vec![line("a", 1, 1); MAX_ITEMS + 1],
        };
        assert_eq!(
            messages(&many),
            ["items must contain at most 100 lines (got 101)"]
        );
    }

    #[test]
    fn the_problem_points_at_each_field() {
        let request = PlaceOrder {
            customer_id: "c".into(),
            items: vec![line("a", 1, 1), line("b", 0, 1)],
        };
        let problem = match request.validate() {
            Ok(_) => panic!("quantity 0 must be rejected"),
            Err(v) => invalid_order(v),
        };
        assert_eq!(problem.status, 422);
        assert_eq!(problem.detail, "items[1].quantity must be at least 1");
        assert_eq!(problem.errors[0].pointer, "#/items/1/quantity");
    }
}
