package headline

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// Change is one field of an update: left as it is unless Set.
type Change[T any] struct {
	Set   bool
	Value T
}

// ProfileUpdate is an edit of a user's own profile. Intro and Photo set to
// nil clear the field; Name cannot be cleared.
type ProfileUpdate struct {
	Name  Change[*string]
	Intro Change[*string]
	Photo Change[*string]
}

// Limits of user_basic's columns, in characters (VARCHAR counts characters).
const (
	maxNameChars  = 32
	maxIntroChars = 50
	maxPhotoChars = 128
)

// Normalize checks u against the table's rules and returns it with the name
// trimmed; the error is BAD_USER_INPUT naming the first field at fault.
func (u ProfileUpdate) Normalize() (ProfileUpdate, error) {
	if u.Name.Set {
		if u.Name.Value == nil {
			return u, BadInput("name", "name: a name cannot be cleared")
		}
		name := strings.TrimSpace(*u.Name.Value)
		if name == "" {
			return u, BadInput("name", "name: must not be empty")
		}
		if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxNameChars {
			return u, BadInput("name", "name: at most %d characters", maxNameChars)
		}
		u.Name.Value = &name
	}
	if u.Intro.Set && u.Intro.Value != nil {
		if s := *u.Intro.Value; !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxIntroChars {
			return u, BadInput("intro", "intro: at most %d characters", maxIntroChars)
		}
	}
	if u.Photo.Set && u.Photo.Value != nil {
		s := *u.Photo.Value
		if utf8.RuneCountInString(s) > maxPhotoChars {
			return u, BadInput("photo", "photo: at most %d characters", maxPhotoChars)
		}
		p, err := url.Parse(s)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return u, BadInput("photo", "photo: must be an http or https URL")
		}
	}
	return u, nil
}
