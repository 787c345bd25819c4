//! The 4×3 (up to 8×8) key matrix: layout, a sans-IO scanner with ghost handling, and the
//! embedded-hal pin shell that reads one sample.
//!
//! Wiring: rows are outputs (open-drain, or push-pull with a diode per key), columns are inputs
//! with pull-ups. A scan drives one row low at a time; a pressed key pulls its column low.
//! Without diodes, three keys on the corners of a rectangle make the fourth corner read pressed
//! (a "ghost"); the scanner freezes all four corners until the rectangle breaks up.

use std::time::{Duration, Instant};

use embedded_hal::digital::{InputPin, OutputPin};

use crate::error::{BoardError, Result};
use crate::input::{InputEvent, Key};
use crate::keys::{KeyBank, KeyTiming};

/// Largest supported matrix side (a sample is a 64-bit mask).
pub const MAX_MATRIX_SIDE: usize = 8;

/// Which key sits at each row/column crossing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixLayout {
    rows: usize,
    cols: usize,
    /// Row-major, `None` where no key is fitted.
    cells: Vec<Option<Key>>,
}

impl MatrixLayout {
    /// Builds a layout from rows of cells; all rows must be equally long.
    pub fn new(rows: Vec<Vec<Option<Key>>>) -> Result<Self> {
        let n_rows = rows.len();
        let n_cols = rows.first().map_or(0, Vec::len);
        if n_rows == 0 || n_cols == 0 || n_rows > MAX_MATRIX_SIDE || n_cols > MAX_MATRIX_SIDE {
            return Err(BoardError::MatrixSize {
                rows: n_rows,
                cols: n_cols,
                max: MAX_MATRIX_SIDE,
            });
        }
        if let Some((i, row)) = rows.iter().enumerate().find(|(_, r)| r.len() != n_cols) {
            return Err(BoardError::MatrixRow {
                row: i + 1,
                keys: row.len(),
                expected: n_cols,
            });
        }
        let cells: Vec<Option<Key>> = rows.into_iter().flatten().collect();
        for (i, key) in cells.iter().enumerate() {
            if let Some(key) = key
                && cells[..i].contains(&Some(*key))
            {
                return Err(BoardError::MatrixKeyTwice { key: *key });
            }
        }
        Ok(MatrixLayout {
            rows: n_rows,
            cols: n_cols,
            cells,
        })
    }

    /// The standard telephone pad: `1 2 3 / 4 5 6 / 7 8 9 / * 0 #`.
    pub fn phone_4x3() -> Self {
        let d = |n| Some(Key::Digit(n));
        MatrixLayout {
            rows: 4,
            cols: 3,
            cells: vec![
                d(1),
                d(2),
                d(3),
                d(4),
                d(5),
                d(6),
                d(7),
                d(8),
                d(9),
                Some(Key::Star),
                d(0),
                Some(Key::Pound),
            ],
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The key at a crossing.
    pub fn key_at(&self, row: usize, col: usize) -> Option<Key> {
        if row >= self.rows || col >= self.cols {
            return None;
        }
        self.cells.get(row * self.cols + col).copied().flatten()
    }

    /// Where a key sits.
    pub fn position(&self, key: Key) -> Option<(usize, usize)> {
        let i = self.cells.iter().position(|k| *k == Some(key))?;
        Some((i / self.cols, i % self.cols))
    }
}

/// One scan of the matrix: which crossings read closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MatrixSample {
    closed: u64,
}

impl MatrixSample {
    /// No crossing closed.
    pub fn open() -> Self {
        MatrixSample { closed: 0 }
    }

    fn bit(row: usize, col: usize) -> u64 {
        if row < MAX_MATRIX_SIDE && col < MAX_MATRIX_SIDE {
            1u64 << (row * MAX_MATRIX_SIDE + col)
        } else {
            0
        }
    }

    /// Marks a crossing closed (out-of-range crossings are ignored).
    pub fn set(&mut self, row: usize, col: usize) {
        self.closed |= Self::bit(row, col);
    }

    /// A sample with the given keys' crossings closed, *including* the ghosts a diode-less
    /// matrix would show. Test and simulation helper.
    pub fn with_keys(layout: &MatrixLayout, keys: &[Key]) -> Self {
        let mut s = MatrixSample::open();
        for (r, c) in keys.iter().filter_map(|k| layout.position(*k)) {
            s.set(r, c);
        }
        // Close rectangles until stable: current flows through any path of pressed keys.
        loop {
            let before = s.closed;
            for r1 in 0..layout.rows {
                for r2 in 0..layout.rows {
                    if r1 != r2 && s.row_bits(r1) & s.row_bits(r2) != 0 {
                        let merged = s.row_bits(r1) | s.row_bits(r2);
                        s.closed |= merged << (r1 * MAX_MATRIX_SIDE);
                        s.closed |= merged << (r2 * MAX_MATRIX_SIDE);
                    }
                }
            }
            if s.closed == before {
                return s;
            }
        }
    }

    pub fn is_closed(&self, row: usize, col: usize) -> bool {
        self.closed & Self::bit(row, col) != 0
    }

    fn row_bits(&self, row: usize) -> u64 {
        (self.closed >> (row * MAX_MATRIX_SIDE)) & 0xff
    }

    /// Crossings whose reading is ambiguous: corners of any rectangle of closed crossings.
    pub fn ghost_mask(&self, rows: usize) -> u64 {
        let mut mask = 0;
        for r1 in 0..rows {
            for r2 in (r1 + 1)..rows {
                let common = self.row_bits(r1) & self.row_bits(r2);
                if common.count_ones() >= 2 {
                    mask |= common << (r1 * MAX_MATRIX_SIDE);
                    mask |= common << (r2 * MAX_MATRIX_SIDE);
                }
            }
        }
        mask
    }
}

/// Sans-IO matrix scanner: samples and times in, key events out.
#[derive(Debug, Clone)]
pub struct MatrixScanner {
    layout: MatrixLayout,
    /// Crossing (row, col) of each key in the bank.
    crossings: Vec<(usize, usize)>,
    bank: KeyBank,
    ghosting: bool,
}

impl MatrixScanner {
    pub fn new(layout: MatrixLayout, debounce: Duration, timing: KeyTiming) -> Self {
        let mut keys = Vec::new();
        let mut crossings = Vec::new();
        for r in 0..layout.rows() {
            for c in 0..layout.cols() {
                if let Some(k) = layout.key_at(r, c) {
                    keys.push(k);
                    crossings.push((r, c));
                }
            }
        }
        MatrixScanner {
            layout,
            crossings,
            bank: KeyBank::new(keys, debounce, timing),
            ghosting: false,
        }
    }

    pub fn layout(&self) -> &MatrixLayout {
        &self.layout
    }

    /// Feeds one full scan taken at `now`.
    pub fn update(&mut self, sample: &MatrixSample, now: Instant, out: &mut Vec<InputEvent>) {
        let ghosts = sample.ghost_mask(self.layout.rows());
        if (ghosts != 0) != self.ghosting {
            self.ghosting = ghosts != 0;
            tracing::debug!(ghosting = self.ghosting, "keypad ghost rectangle");
        }
        let crossings = &self.crossings;
        self.bank.update(
            |i| {
                crossings
                    .get(i)
                    .is_some_and(|&(r, c)| sample.is_closed(r, c))
            },
            |i| {
                crossings
                    .get(i)
                    .is_some_and(|&(r, c)| ghosts & MatrixSample::bit(r, c) != 0)
            },
            now,
            out,
        );
    }

    /// Advances hold timers without a new sample.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<InputEvent>) {
        self.bank.poll(now, out);
    }

    pub fn is_held(&self, key: Key) -> bool {
        self.bank.is_held(key)
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.bank.next_deadline()
    }
}

/// The pins of a matrix: named row outputs and column inputs (any embedded-hal 1.0 pins).
pub struct MatrixPins<O, I> {
    rows: Vec<(String, O)>,
    cols: Vec<(String, I)>,
}

impl<O: OutputPin, I: InputPin> MatrixPins<O, I> {
    /// Rows are driven high (idle) at once; the names appear in errors.
    pub fn new(rows: Vec<(String, O)>, cols: Vec<(String, I)>) -> Result<Self> {
        let mut pins = MatrixPins { rows, cols };
        for (name, pin) in pins.rows.iter_mut() {
            pin.set_high()
                .map_err(|e| BoardError::pin(name.as_str(), e))?;
        }
        Ok(pins)
    }

    /// Reads every crossing once: one row low at a time, columns low = closed.
    pub fn scan(&mut self) -> Result<MatrixSample> {
        let mut sample = MatrixSample::open();
        for (r, (row_name, row)) in self.rows.iter_mut().enumerate() {
            row.set_low()
                .map_err(|e| BoardError::pin(row_name.as_str(), e))?;
            let mut read = Ok(());
            for (c, (col_name, col)) in self.cols.iter_mut().enumerate() {
                match col.is_low() {
                    Ok(true) => sample.set(r, c),
                    Ok(false) => {}
                    Err(e) => {
                        read = Err(BoardError::pin(col_name.as_str(), e));
                        break;
                    }
                }
            }
            // Always release the row, even after a read error.
            row.set_high()
                .map_err(|e| BoardError::pin(row_name.as_str(), e))?;
            read?;
        }
        Ok(sample)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_rejects_bad_shapes() {
        assert!(MatrixLayout::new(vec![]).is_err());
        assert!(MatrixLayout::new(vec![vec![Some(Key::Star)], vec![]]).is_err());
        let dup = MatrixLayout::new(vec![vec![Some(Key::Star), Some(Key::Star)]]);
        assert!(dup.unwrap_err().to_string().contains("twice"));
        assert!(MatrixLayout::new(vec![vec![None; 9]]).is_err());
    }

    #[test]
    fn ghosts_are_added_and_detected() {
        let l = MatrixLayout::phone_4x3();
        let d = Key::Digit;
        // 1, 2 and 4 pressed: 5 reads closed too.
        let s = MatrixSample::with_keys(&l, &[d(1), d(2), d(4)]);
        assert!(s.is_closed(1, 1));
        let mask = s.ghost_mask(4);
        assert_eq!(mask.count_ones(), 4);
        // Two keys in one row are not ambiguous.
        let s = MatrixSample::with_keys(&l, &[d(1), d(2)]);
        assert_eq!(s.ghost_mask(4), 0);
    }
}
