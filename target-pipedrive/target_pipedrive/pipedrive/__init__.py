"""pipedrive"""
