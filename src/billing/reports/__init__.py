"""Operations reports (service extension): the ERP reconciliation report."""
