"""Lowering through Apache TVM (Relax + TIR) into one self-contained static executable per model."""
