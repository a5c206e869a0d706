"""Korean financial news: polite crawlers for Naver Finance, Hankyung and Maeil Business."""
