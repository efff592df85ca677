package sessions

// LocalCacheLen reports how many sessions the local cache holds (expired ones included).
func (m *Manager) LocalCacheLen() int {
	if m.cache == nil {
		return 0
	}
	return m.cache.len()
}
