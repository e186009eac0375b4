"""kefu — a self-hostable intelligent customer-service platform (智能客服平台)."""

__version__ = "0.1.0"
