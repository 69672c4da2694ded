//! Reading inputs: files, directories (optionally recursive) and standard input. (Being written.)
