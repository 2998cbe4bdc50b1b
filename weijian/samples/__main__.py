"""``python -m weijian.samples --out DIR --scale small|city|province [--seed N]``."""

from weijian.samples import main

if __name__ == "__main__":
    main()
