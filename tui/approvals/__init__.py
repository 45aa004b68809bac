"""View 6: entries waiting for an operator's approval (TRADE_CONFIRMATION_REQUIRED=true)."""
