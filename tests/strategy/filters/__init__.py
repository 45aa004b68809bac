"""Tests of the entry filters."""
