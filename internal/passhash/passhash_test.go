package passhash

import "testing"

func TestHashVerify(t *testing.T) {
	h, err := Hash("123456", 8*1024)
	if err != nil {
		t.Fatal(err)
	}
	if !Verify(h, "123456") {
		t.Fatal("the right secret does not verify")
	}
	for _, bad := range []string{"123457", "", "1234567"} {
		if Verify(h, bad) {
			t.Fatalf("%q verifies", bad)
		}
	}
	for _, phc := range []string{"", "$argon2i$v=19$m=8,t=1,p=1$AA$AA", "$argon2id$v=19$garbage$AA$AA", "$argon2id$v=19$m=8,t=1,p=1$!!$AA"} {
		if Verify(phc, "123456") {
			t.Fatalf("malformed %q verifies", phc)
		}
	}
	if h2, _ := Hash("123456", 8*1024); h2 == h {
		t.Fatal("two hashes of one secret are equal: no salt")
	}
}
